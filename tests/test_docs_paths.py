"""Every repository path the README and the docs name exists and is tracked (not hidden by .gitignore)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TOP = ("medrobust/", "benchmarks/", "examples/", "notebooks/", "tests/", "docs/", ".ci/")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(re.escape(t) for t in TOP) + r")[\w./*-]*[\w*/])")


def _tracked() -> set[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell tracked files")
    files = set(out.split())
    return files | {str(Path(f).parent) + "/" for f in files} | {p for f in files for p in _parents(f)}


def _parents(f: str) -> set[str]:
    parts = f.split("/")
    return {"/".join(parts[:i]) + "/" for i in range(1, len(parts))} | {
        "/".join(parts[:i]) for i in range(1, len(parts))
    }


def _cited(text: str) -> set[str]:
    """Paths named in ``text``; a command's ``--out PATH`` is where it writes, not a citation."""
    text = re.sub(r"--out\s+\S+", "", text)
    return {m.rstrip(".") for m in PATH.findall(text)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_path_exists_and_is_tracked(doc: Path) -> None:
    tracked = _tracked()
    missing = []
    for path in sorted(_cited(doc.read_text())):
        if "*" in path:
            if not any(Path(t).match(path) for t in tracked):
                missing.append(path)
        elif path not in tracked and path.rstrip("/") not in tracked:
            missing.append(path)
    assert not missing, f"{doc.name} cites paths that are not in the repository: {missing}"


def test_the_path_pattern_finds_paths() -> None:
    assert _cited("see `benchmarks/results/cpu-smallcnn.json` and medrobust/engine/sweep.py.") == {
        "benchmarks/results/cpu-smallcnn.json",
        "medrobust/engine/sweep.py",
    }


def test_every_module_has_an_api_page() -> None:
    """mkdocstrings renders a module only where a reference page names it: a new module needs one."""
    pages = "\n".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    named = set(re.findall(r"^::: ([\w.]+)$", pages, flags=re.M))
    modules = set()
    for p in (ROOT / "medrobust").rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            if not re.search(r"^(def|class) [A-Za-z]", p.read_text(), flags=re.M):
                continue  # a package with nothing of its own to document
            parts = parts[:-1]
        if "harness" in parts or parts[-1].startswith("_") or parts[-2:] == ["models", "heads"]:
            continue  # deprecated aliases and private modules
        modules.add(".".join(parts))
    assert sorted(modules - named) == []
