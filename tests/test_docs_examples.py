"""Every ``medrobust`` command in the README and the docs runs as written (at a tiny size).

The commands are read from the fenced shell blocks. Files a command names that a reader
brings along (``w.pt``, ``scans/``, ``labels.csv``, ``run.yaml``) are made here: weights of
the architecture the command's flags describe, a few DICOM, NIfTI or PNG files, and the
YAML blocks of the same page. Paths under ``--out`` go to a temporary folder, MedMNIST roots
to the shared data, and ``--n 4 --bootstrap 0 --quiet`` keeps each run to seconds. A command
added to the docs that this test does not know fails :func:`test_every_documented_command_is_known`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from click.testing import CliRunner
from conftest import REPO, require_data
from PIL import Image
from pydicom.data import get_testdata_file

from medrobust.cli.commands import main
from medrobust.models.registry import build_model

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SHELL = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)
YAML = re.compile(r"```yaml\n(.*?)```", re.S)
TINY = ["--n", "4", "--bootstrap", "0", "--quiet"]
ELIDED = ["--model", "demo", "--data", "synthetic", "-D", "n=16"]
"""What ``medrobust run ...`` stands for in an example that shows only its own options."""

ELSEWHERE = {
    "medrobust bench examples/suites/nightly.yaml --out bench/tonight --baseline bench/last-night": (
        "tests/test_bench_suite.py"
    ),
    "medrobust bench examples/suites/nightly.yaml --out medrobust-results/nightly": "tests/test_bench_suite.py",
    "medrobust bench examples/suites/nightly.yaml --out tonight --baseline medrobust-results/nightly": (
        "tests/test_bench_suite.py"
    ),
}
"""Commands run by another test (the nightly suite needs its example checkpoints first)."""

ON_RAY = {
    "medrobust bench examples/suites/nightly.yaml --out bench/tonight --ray",
    "medrobust bench examples/suites/nightly.yaml --out /shared/bench/tonight --ray --ray-address auto",
    "medrobust run --config chexpert.yaml --ray --shards 8",
    "medrobust run --config chexpert.yaml --ray --shards 8 --ray-address auto",
}
"""Ray commands: tests/test_ray.py runs their flags on a local instance at a small size (an
``--ray-address`` of a real cluster cannot be reached here; the test checks its validation)."""


def documented() -> list[tuple[str, str]]:
    """``(page, command)`` for every ``medrobust`` line of every fenced shell block."""
    out = []
    for page in DOCS:
        for block in SHELL.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                cmd = re.sub(r"\s+#.*$", "", line).strip()
                cmd = " ".join(cmd.split())
                if cmd.startswith("medrobust ") and not cmd.startswith("medrobust: "):
                    out.append((page.relative_to(REPO).as_posix(), cmd))
    return out


COMMANDS = documented()


def test_every_documented_command_is_known() -> None:
    for page, cmd in COMMANDS:
        known = cmd.split()[1] in RUNS or cmd in ELSEWHERE or cmd in ON_RAY
        assert known, f"{page}: no test runs {cmd!r}"
    for cmd, test in ELSEWHERE.items():
        assert any(c == cmd for _, c in COMMANDS), f"stale entry {cmd!r}"
        assert cmd.split()[2] in (REPO / test).read_text(), f"{test} does not run {cmd.split()[2]}"
    ray_test = (REPO / "tests/test_ray.py").read_text()
    for cmd in ON_RAY:
        assert any(c == cmd for _, c in COMMANDS), f"stale entry {cmd!r}"
        flags = [w for w in cmd.split() if w.startswith("--")]
        assert all(f'"{f}"' in ray_test or f in ray_test for f in flags), f"tests/test_ray.py does not use {flags}"


# --- the files a reader brings along ---


def _weights(tmp: Path, args: list[str], name: str) -> Path:
    """A state dict of the architecture ``args`` describe (seeded), under the name the command uses."""
    flags = dict(zip(args[::1], [*args[1:], ""], strict=True))
    torch.manual_seed(0)
    adapter = build_model(
        flags["--model"],
        name=flags.get("--model-name"),
        num_classes=int(flags.get("--num-classes", 2)),
        in_channels=int(flags.get("--in-channels", 1)),
        spatial_dims=int(flags.get("--spatial-dims", 2)),
    )
    path = tmp / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(adapter.model.state_dict(), path)
    return path


def _labels(path: Path, files: list[str]) -> Path:
    path.write_text("file,label\n" + "".join(f"{f},{i % 2}\n" for i, f in enumerate(files)))
    return path


def _dicom(root: Path) -> list[str]:
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(0)
    names = []
    for i in range(6):
        ds = template.copy()
        ds.PatientSex = "FM"[i % 2]
        ds.PatientAge = f"0{40 + 7 * i}Y"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.77.{i}"
        noise = rng.integers(-40, 40, size=template.pixel_array.shape)
        ds.PixelData = (template.pixel_array.astype(np.int16) + noise.astype(np.int16)).tobytes()
        root.mkdir(parents=True, exist_ok=True)
        ds.save_as(root / f"ct{i}.dcm", enforce_file_format=True)
        names.append(f"ct{i}.dcm")
    return names


def _nifti(root: Path) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(6):
        vol = np.random.default_rng(i).random((8, 8, 8)).astype(np.float32)
        nib.save(nib.Nifti1Image(vol, np.eye(4)), root / f"v{i}.nii.gz")
        names.append(f"v{i}.nii.gz")
    return names


def _pngs(root: Path) -> list[str]:
    names = []
    for i in range(6):
        rel = f"{'neg' if i % 2 == 0 else 'pos'}/{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40), dtype=np.uint8), mode="L").save(root / rel)
        names.append(rel)
    return names


def _yaml_block(page: str, first_line: str) -> str:
    """The YAML block of ``page`` that starts with ``first_line`` (or any, when empty)."""
    blocks = YAML.findall((REPO / page).read_text())
    return next(b for b in blocks if b.startswith(first_line))


class World:
    """One test's files: data folders built on first use, paths mapped into ``tmp``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.built: dict[str, Path] = {}

    def path(self, p: str) -> str:
        return str(self.tmp / "work" / p.strip("/"))

    def data_root(self, kind: str, value: str) -> str:
        if kind == "medmnist":
            return str(require_data("medmnist"))
        build: dict[str, Callable[[Path], list[str]]] = {"dicom": _dicom, "nifti": _nifti, "folder": _pngs}
        if kind not in self.built:
            root = self.tmp / "files" / value.strip("/")
            self.built[kind] = _labels(self.tmp / "files" / f"{kind}-labels.csv", build[kind](root))
        return str(self.tmp / "files" / value.strip("/"))

    def args(self, cmd: str) -> list[str]:
        """The command's arguments with the reader's files made and paths mapped."""
        words = shlex.split(cmd)[1:]
        if "..." in words:
            i = words.index("...")
            words[i : i + 1] = ELIDED
        kind = words[words.index("--data") + 1] if "--data" in words else None
        out: list[str] = []
        it = iter(words)
        for w in it:
            if w == "--weights":
                out += [w, str(_weights(self.tmp, words, next(it)))]
            elif w in ("--out", "--baseline", "-c", "--thresholds", "--reference"):
                out += [w, self.path(next(it))]
            elif w == "-D":
                key, _, value = next(it).partition("=")
                if key == "root":
                    value = self.data_root(str(kind), value)
                elif key == "labels":
                    self.data_root(str(kind), "root")
                    value = str(self.built[str(kind)])
                out += [w, f"{key}={value}"]
            else:
                out.append(w)
        if kind == "nifti":
            out += ["-D", "size=32"]  # 64^3 volumes are the reader's size; 32^3 runs here in seconds
        return out


def _run(args: list[str], codes: tuple[int, ...] = (0,)) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code in codes, f"{args}\n{result.output}"


def _quick_run(world: World, out: str) -> None:
    """A finished results folder at ``out`` (what ``report`` and ``compare`` examples read)."""
    args = ["run", "--model", "smallcnn", "--data", "synthetic", "-D", "n=16", "--attack", "fgsm"]
    _run([*args, "--weights", str(_weights(world.tmp, args, "quick.pt")), "--out", world.path(out), *TINY])


def _run_command(world: World, cmd: str) -> None:
    args = world.args(cmd)
    if "-c" in args:  # the config file is the YAML block of the same page, with its paths mapped
        text = _yaml_block("docs/cli.md", "model:")
        weights = _weights(
            world.tmp, ["--model", "torchvision", "--model-name", "resnet18", "--in-channels", "3"], "w.pt"
        )
        text = text.replace("weights: w.pt", f"weights: {weights}")
        text = text.replace("root: ../shared/data/medmnist", f"root: {require_data('medmnist')}")
        text = text.replace("out: results/run1", f"out: {world.path('results/run1')}")
        cfg = Path(args[args.index("-c") + 1])
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(text)
    if "--reference" in args:  # the reference run first: the same command, into the reference folder
        i = args.index("--reference")
        first = args[:i] + args[i + 2 :]
        first[first.index("--out") + 1] = args[i + 1]
        _run([*first, *TINY])
    _run([*args, *TINY], codes=(0, 3) if "--strict" in args else (0,))


def _demo_command(world: World, cmd: str) -> None:
    _run([*world.args(cmd), "--n", "32", "--quiet", *([] if "--out" in cmd else ["--out", world.path("demo")])])


def _report_command(world: World, cmd: str) -> None:
    words, args = shlex.split(cmd), world.args(cmd)
    _quick_run(world, words[2])
    if "--baseline" in words:
        _quick_run(world, words[words.index("--baseline") + 1])
    if "--thresholds" in args:
        Path(args[args.index("--thresholds") + 1]).write_text(_yaml_block("docs/reports.md", "# thresholds.yaml"))
    _run([args[0], world.path(args[1]), *args[2:]])


def _compare_command(world: World, cmd: str) -> None:
    base, current = shlex.split(cmd)[2:4]
    readme_run = next(c for p, c in COMMANDS if p == "README.md" and c.startswith("medrobust run"))
    for out in (base, current):  # the README's nightly run, twice: no regression
        _run([*world.args(readme_run.replace("runs/tonight", out)), *TINY])
    _run(["compare", world.path(base), world.path(current), *shlex.split(cmd)[4:]])


RUNS: dict[str, Callable[[World, str], None]] = {
    "run": _run_command,
    "demo": _demo_command,
    "report": _report_command,
    "compare": _compare_command,
}


@pytest.mark.parametrize(
    "page, cmd",
    [pytest.param(p, c, id=f"{p}:{c[:60]}") for p, c in COMMANDS if c not in ELSEWHERE and c not in ON_RAY],
)
def test_documented_command_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, cmd: str
) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")  # a command without --out writes medrobust-results/run here
    RUNS[cmd.split()[1]](World(tmp_path), cmd)
