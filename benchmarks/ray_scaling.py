"""Ray on one machine: a suite of 8 small cells serial vs as Ray tasks, a sharded run vs one process.

Run from the repository root (needs the ``[ray]`` extra)::

    python benchmarks/ray_scaling.py --out benchmarks/results/cpu-ray.json

Everything runs in this one process, in this order: Ray's start-up alone (``ray.init`` and a
first task that imports torch), the suite serially, the suite on a local Ray instance with one
CPU per cell, then one run of 8 batches in one process and sharded over 2 Ray workers. Both
pairs are checked for identical numbers. The serial runs use one torch thread, as each Ray
worker does, so the ratio is the gain from running two cells (or shards) at once.
"""

from __future__ import annotations

import argparse
import json
import logging
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
from medrobust.datasets.synthetic import synthetic
from medrobust.engine.evaluate import evaluate
from medrobust.engine.ray_runtime import RayOptions
from medrobust.models.demo import demo_model
from medrobust.results.atomic import write_json
from medrobust.suites.grid import run_suite

log = logging.getLogger("benchmarks.ray_scaling")
ATTACKS = [{"name": "pgd", "steps": 10}]


def suite_file(folder: Path, weights: Path, n: int) -> Path:
    """2 datasets x 2 attack sets x 2 budget lists: 8 cells of ``n`` images each."""
    spec = {
        "name": "ray-scaling",
        "defaults": {"n": n, "batch_size": 32, "bootstrap": 0, "device": "cpu"},
        "models": {"cnn": {"kind": "smallcnn", "weights": str(weights), "num_classes": 2, "head": "binary"}},
        "datasets": {
            "a": {"kind": "synthetic", "n": n, "task": "binary", "seed": 1},
            "b": {"kind": "synthetic", "n": n, "task": "binary", "seed": 2},
        },
        "attack_sets": {"pgd": ATTACKS, "fgsm-pgd": ["fgsm", *ATTACKS]},
        "budgets": {"small": [0, "1/255", "2/255"], "large": [0, "4/255", "8/255"]},
    }
    path = folder / "suite.yaml"
    path.write_text(json.dumps(spec))
    return path


def without_timings(bench: dict[str, Any]) -> dict[str, Any]:
    return {**bench, "cells": [{k: v for k, v in c.items() if k != "seconds"} for c in bench["cells"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-ray.json"))
    parser.add_argument("--n", type=int, default=2048, help="images per suite cell")
    parser.add_argument("--run-n", type=int, default=8192, help="images of the sharded run (batches of 32)")
    parser.add_argument("--note", default="", help="how the machine was loaded while measuring")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import ray

    torch.set_num_threads(1)
    model = demo_model(0)
    work = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    weights = work / "cnn.pt"
    torch.save(model.model.state_dict(), weights)
    path = suite_file(work, weights, args.n)

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.get(ray.remote(lambda: __import__("torch").__version__).remote())
    startup = time.perf_counter() - t0
    log.info("Ray start-up and a first torch task: %.1f s", startup)

    t0 = time.perf_counter()
    serial = run_suite(path, out=work / "serial")
    serial_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    on_ray = run_suite(path, out=work / "ray", ray=True)
    ray_s = time.perf_counter() - t0
    same_suite = without_timings(json.loads((work / "serial" / "bench.json").read_text())) == without_timings(
        json.loads((work / "ray" / "bench.json").read_text())
    )
    log.info("suite: serial %.1f s, Ray %.1f s, identical %s", serial_s, ray_s, same_suite)

    data = synthetic(args.run_n, seed=7)
    run = {"attacks": ATTACKS, "eps": [0, "1/255", "2/255", "4/255", "8/255"], "batch_size": 32, "bootstrap": 0}
    t0 = time.perf_counter()
    single = evaluate(model, data, **run)
    single_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sharded = evaluate(model, data, executor=RayOptions(shards=2), **run)
    sharded_s = time.perf_counter() - t0
    same_run = single.rows.equals(sharded.rows) and single.summary.model_dump() == sharded.summary.model_dump()
    log.info("run: one process %.1f s, 2 shards %.1f s, identical %s", single_s, sharded_s, same_run)
    ray.shutdown()

    report = {
        "benchmark": "ray_scaling",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": args.note,
        "ray_startup_seconds": round(startup, 2),
        "suite": {
            "cells": len(serial.cells),
            "images_per_cell": args.n,
            "attacks": ["pgd-10", "fgsm + pgd-10"],
            "serial_seconds": round(serial_s, 2),
            "ray_seconds": round(ray_s, 2),
            "ray_workers": 2,
            "speed_up": round(serial_s / ray_s, 2),
            "identical_apart_from_timings": same_suite,
            "statuses": sorted({c.status for c in on_ray.cells}),
        },
        "sharded_run": {
            "images": args.run_n,
            "batches": args.run_n // 32,
            "single_process_seconds": round(single_s, 2),
            "sharded_seconds": round(sharded_s, 2),
            "shards": 2,
            "speed_up": round(single_s / sharded_s, 2),
            "identical_rows_and_summary": same_run,
        },
        "threads_per_process": 1,
        "machine": environment.machine(torch.device("cpu")),
        "libraries": {**environment.libraries(), "ray": ray.__version__},
    }
    write_json(args.out, report)
    log.info("written %s", args.out)


if __name__ == "__main__":
    main()
