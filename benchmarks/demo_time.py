"""How long a newcomer waits: ``medrobust demo`` (and, optionally, the 3D MedMNIST run) end to end, timed.

Run from the repository root, e.g.::

    python benchmarks/demo_time.py --out benchmarks/results/cpu-demo-time.json
    python benchmarks/demo_time.py --variants default --volume ../shared/data/medmnist --out volume.json

Each run is one fresh ``medrobust`` process, its wall time, peak resident memory
(``ru_maxrss`` of the child) and the load average before and after recorded with its PGD
4/255 robust accuracy (the demo is seeded: every variant should print the same number).
``--before DIR`` adds a variant run from an older tree's ``medrobust`` package (e.g. one
extracted with ``git archive HEAD medrobust | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from benchmarks import environment
from medrobust.results.atomic import write_json

log = logging.getLogger("benchmarks.demo_time")

VARIANTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "threads-1": (["--threads", "1"], {}),
    "threads-2": (["--threads", "2"], {}),
    "threads-2-active": (["--threads", "2"], {"OMP_WAIT_POLICY": "ACTIVE"}),
}
"""Name: extra ``demo`` flags and environment (``default``: the thread count and wait policy medrobust picks).

``ACTIVE`` spins without end; libgomp's own default (unset, the ``before`` run) spins a while, then sleeps."""

BURNERS = {
    "python": "while True: pass",
    "torch": (  # a test suite's kind of work: small convolutions on torch's default (spinning) OpenMP threads
        "import torch\nnet = torch.nn.Conv2d(1, 16, 3)\nx = torch.randn(32, 1, 28, 28)\n"
        "while True:\n    net(x).sum().backward()\n"
    ),
}
"""What a ``--load`` process runs: one Python core, or torch work on every core (another project's tests)."""


def timed(argv: list[str], env: dict[str, str], out: Path) -> dict[str, Any]:
    """One fresh process: wall seconds, its peak RSS, the load around it and the PGD 4/255 number it wrote."""
    load_before = environment.load_average()
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak resident memory
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    pgd = next((c for label, c in summary["attacks"].items() if label.startswith("pgd")), None)
    at_4 = next((b["robust_accuracy"] for b in pgd["budgets"] if b["label"] == "4/255"), None) if pgd else None
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "load_before": load_before,
        "load_after": environment.load_average(),
        "threads": manifest.get("threads", manifest.get("device", {}).get("threads")),
        "batch_size": manifest["config"].get("batch_size"),
        "pgd_4_255": at_4,
        "settings": [line for line in stderr.splitlines() if "medrobust.settings" in line],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--before", type=Path, help="a folder holding an older medrobust package: time it too")
    parser.add_argument("--volume", type=Path, help="MedMNIST folder: also time the AdrenalMNIST3D 64^3 run")
    parser.add_argument("--volume-n", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each demo variant, interleaved")
    parser.add_argument("--load", type=int, default=0, help="busy processes running alongside (a loaded machine)")
    parser.add_argument("--load-kind", choices=sorted(BURNERS), default="torch", help="what each busy process runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-demo-time.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cli = [sys.executable, "-m", "medrobust.cli.commands"]
    points: dict[str, Any] = {}
    runs: list[tuple[str, list[str], dict[str, str]]] = []
    if args.before is not None:
        runs.append(("before", [*cli, "demo", "--quiet"], {"PYTHONPATH": str(args.before.resolve())}))
    for name in [v for v in args.variants.split(",") if v]:
        flags, env = VARIANTS[name]
        runs.append((name, [*cli, "-v", "demo", *flags], env))
    burners = [subprocess.Popen([sys.executable, "-c", BURNERS[args.load_kind]]) for _ in range(args.load)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _run_all(args, cli, runs, points, Path(tmp))
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    report = {
        "benchmark": "medrobust demo end to end (and the 3D MedMNIST run)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": environment.machine(torch.device("cpu")),
        "libraries": environment.libraries(),
        "extra_load": f"{args.load} busy {args.load_kind} process(es) alongside every run" if args.load else "none",
        "points": points,
        "note": "one fresh process per run; load averages before/after (1, 5, 15 min): the machine is shared",
    }
    write_json(args.out, report)
    log.info("written %s", args.out)
    return 0


def _run_all(
    args: argparse.Namespace,
    cli: list[str],
    runs: list[tuple[str, list[str], dict[str, str]]],
    points: dict[str, Any],
    work: Path,
) -> None:
    """Every variant ``args.repeats`` times, round robin, then the volume run when asked."""
    for repeat in range(args.repeats):  # round robin: a change of load hits every variant alike
        for name, argv, env in runs:
            out = work / f"{name}-{repeat}"
            point = timed([*argv, "--out", str(out)], env, out)
            points.setdefault(name, {"runs": []})["runs"].append(point)
            log.info("%s #%d: %s", name, repeat + 1, {k: v for k, v in point.items() if k != "settings"})
    for point in points.values():
        point["median_seconds"] = round(statistics.median(r["seconds"] for r in point["runs"]), 1)
    if args.volume is not None:
        points["adrenalmnist3d-64"] = _volume(cli, args.volume, args.volume_n, work)
        log.info("adrenalmnist3d-64: %s", points["adrenalmnist3d-64"])


def _volume(cli: list[str], root: Path, n: int, work: Path) -> dict[str, Any]:
    """AdrenalMNIST3D at 64^3 with a briefly trained SmallCNN, the automatic batch size (docs/data.md's command)."""
    from medrobust.datasets.medmnist import medmnist
    from medrobust.heads import make_head
    from medrobust.models.small_cnn import SmallCNN
    from medrobust.models.training import train_classifier

    train = medmnist("adrenalmnist3d", root=root, split="train", size=64).subset(128, seed=0)
    torch.manual_seed(0)
    net = SmallCNN(1, 2, spatial_dims=3)
    train_classifier(net, train, make_head("binary", 2), epochs=2, seed=0, threads=1)
    weights = work / "adrenal-cnn.pt"
    torch.save(net.state_dict(), weights)
    out = work / "adrenal"
    argv = [*cli, "-v", "run", "--data", "medmnist", "-D", "subset=adrenalmnist3d", "-D", "size=64"]
    argv += ["-D", f"root={root}", "--model", "smallcnn", "--num-classes", "2", "--spatial-dims", "3"]
    argv += ["--weights", str(weights), "--n", str(n), "--out", str(out)]
    return timed(argv, {}, out)


if __name__ == "__main__":
    raise SystemExit(main())
