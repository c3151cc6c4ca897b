"""The shape rules of the code base: small modules, and the 0.1 import paths still working."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "medrobust"
LIMIT = 400


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
