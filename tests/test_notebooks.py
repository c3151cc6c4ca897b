"""The notebooks: committed without outputs, in sync with their generator, and run top to bottom.

Each runs in a fresh ``python3`` kernel of this environment (checked: the kernel's
``sys.prefix`` is ours) with ``MEDROBUST_DATA`` set where the shared data exists; without
it the notebooks fall back to synthetic data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import shared_data_root
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs_and_match_their_generator() -> None:
    assert len(NAMES) >= 5
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.execution_count is None and c.outputs == [] for c in code), name
        assert nb.metadata.kernelspec.name == "python3"
    check = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "build_notebooks.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, f"notebooks differ from build_notebooks.py; run it: {check.stdout}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executed with nbclient in a kernel on this interpreter; the working folder is a temporary one."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    root = shared_data_root()
    if root is not None:
        monkeypatch.setenv("MEDROBUST_DATA", str(root))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    check = f"import sys\nassert sys.prefix == {sys.prefix!r}, f'kernel runs {{sys.executable}}, not this environment'"
    nb.cells.insert(0, nbformat.v4.new_code_cell(check))
    client = NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    if "quickstart" in name or "medmnist" in name:
        assert figures, "the curve and gallery figures should render"
