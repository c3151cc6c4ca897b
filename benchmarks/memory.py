"""Peak memory of a run against the number of images: is medrobust's memory flat in n?

Run from the repository root, e.g.::

    python benchmarks/memory.py --out benchmarks/results/cpu-memory.json

Each point is one fresh process, its resident memory polled while it runs ``medrobust.evaluate``
with FGSM over two budgets and 200 bootstrap draws into a results folder: synthetic 28x28
images held in memory (their own bytes are reported apart, since in-memory data grows with n
by definition) and PNG files of 224x224 read from disk (streamed: nothing should grow but a
few bytes of rows per image).
"""

from __future__ import annotations

import argparse
import json
import logging
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

log = logging.getLogger("benchmarks.memory")

CHILD = r"""
import gc, json, resource, sys, threading, time
import torch
import medrobust
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
kind, n, root, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.manual_seed(0)
if kind == "synthetic":
    from medrobust.datasets.synthetic import synthetic
    data = synthetic(n, task="binary", seed=1)
    data_bytes = data.images.element_size() * data.images.numel()
else:
    from medrobust.datasets.folder import folder
    data = folder(root, channels=1)
    data_bytes = 0
def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
gc.collect()
model = ModelAdapter(SmallCNN(1, 2, width=8), "binary", num_outputs=2)
base, peak, running = rss_kib(), [0], [True]
def poll():
    while running[0]:
        peak[0] = max(peak[0], rss_kib())
        time.sleep(0.02)
watcher = threading.Thread(target=poll, daemon=True)
watcher.start()
t0 = time.perf_counter()
medrobust.evaluate(model, data, ["fgsm"], [0, "2/255"], out_dir=out, batch_size=64, bootstrap=200, verify=False)
running[0] = False
watcher.join()
info = {"seconds": time.perf_counter() - t0, "data_bytes": data_bytes, "rss_before_kib": base, "peak_kib": peak[0]}
print(json.dumps(info))
"""


def make_pngs(root: Path, n: int, size: int) -> None:
    """``n`` smooth grey PNGs in two class folders (compressible, so disk stays small)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for c in ("neg", "pos"):
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        phase = rng.random() * 6.28
        img = (127 + 100 * np.sin(8 * xx + phase) * np.cos(6 * yy)).astype(np.uint8)
        Image.fromarray(img).save(root / ("pos" if i % 2 else "neg") / f"{i:06d}.png", optimize=False)


def measure(kind: str, n: int, root: Path, work: Path) -> dict[str, Any]:
    """One point: a child process's peak resident memory for one run."""
    out = work / f"out-{kind}-{n}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(n), str(root), str(out)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} n={n} failed:\n{proc.stderr[-2000:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    before, peak = info["rss_before_kib"] / 1024, info["peak_kib"] / 1024  # VmRSS, KiB
    return {
        "kind": kind,
        "n": n,
        "rss_before_run_mib": round(before, 1),
        "peak_rss_during_run_mib": round(peak, 1),
        "run_growth_mib": round(peak - before, 1),
        "run_growth_bytes_per_image": round((peak - before) * 2**20 / n),
        "data_in_memory_mib": round(info["data_bytes"] / 2**20, 1),
        "seconds": round(info["seconds"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", default="1000,10000,100000", help="n for synthetic 28x28 images")
    parser.add_argument("--files", default="1000,10000", help="n for 224x224 PNG files")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-memory.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in [int(v) for v in args.synthetic.split(",") if v]:
            points.append(measure("synthetic", n, work, work))
            log.info("%s", points[-1])
        for n in [int(v) for v in args.files.split(",") if v]:
            root = work / f"png-{n}"
            make_pngs(root, n, 224)
            points.append(measure("files-224", n, root, work))
            log.info("%s", points[-1])
    report = {
        "benchmark": "peak memory against n",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": environment.machine(torch.device("cpu")),
        "setup": "SmallCNN(width=8), FGSM, eps 0 and 2/255, batch 64, bootstrap 200, results folder written",
        "points": points,
        "note": "VmRSS polled every 20 ms during evaluate(); rss_before_run has torch, the model and the data loaded",
    }
    write_json(args.out, report)
    log.info("written %s (%.0f s)", args.out, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
