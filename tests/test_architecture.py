"""The shape rules of the code base: small modules, and the 0.1 import paths still working."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "medrobust"
LIMIT = 400
ROOT = PACKAGE.parent


def test_no_module_over_the_limit() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > LIMIT
    }
    assert not long, f"modules over {LIMIT} lines: {long}"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("medrobust.harness.evaluate", "medrobust.engine.evaluate"),
        ("medrobust.harness.results", "medrobust.results.results"),
        ("medrobust.harness.compare", "medrobust.gates.compare"),
    ],
)
def test_old_import_paths_warn_and_point_to_the_new_module(old: str, new: str) -> None:
    sys.modules.pop(old, None)  # import afresh, so the warning is raised here
    with pytest.warns(DeprecationWarning, match=new):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    assert module is target or all(getattr(module, n) is getattr(target, n) for n in getattr(module, "__all__", ()))


def test_heads_alias_reexports_the_same_objects() -> None:
    sys.modules.pop("medrobust.models.heads", None)
    with pytest.warns(DeprecationWarning):
        old = importlib.import_module("medrobust.models.heads")
    new = importlib.import_module("medrobust.heads")
    assert old.Head is new.Head and old.HeadKind is new.HeadKind


LAYOUT_FILES = {"summary.json", "manifest.json", "samples.csv", "rows.csv", "gallery.npz", "state.json", "report.html"}


def _string_literals(path: Path) -> set[str]:
    """String constants of a module, docstrings excluded."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    }


def test_only_the_results_folder_knows_the_layout() -> None:
    """File names of a results folder are spelled in results/folder.py and nowhere else in the code."""
    spelled = {
        str(p.relative_to(ROOT)): sorted(_string_literals(p) & LAYOUT_FILES)
        for p in (ROOT / "medrobust").rglob("*.py")
        if _string_literals(p) & LAYOUT_FILES
    }
    assert spelled == {"medrobust/results/folder.py": sorted(LAYOUT_FILES)}


def test_readers_of_the_summary_use_attributes() -> None:
    """Reports, gates and front ends read the typed summary, not string paths (``s["attacks"]``)."""
    path_read = re.compile(r"""(summary|\bs|\bb|\ba|\bsplit|\bw)(\[|\.get\()["']""")
    readers = [ROOT / "medrobust" / d for d in ("reports", "gates", "pytest_plugin", "suites")]
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for d in readers
        for p in d.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if path_read.search(line)
    ]
    assert found == []
