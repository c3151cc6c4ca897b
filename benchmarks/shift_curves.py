"""Acquisition shifts on real data: one random draw, the worst of five, and the adversarial search, per severity.

Run from the repository root::

    python benchmarks/shift_curves.py --out benchmarks/results/cpu-shift-curves.json

The benchmark's PneumoniaMNIST SmallCNN (trained here, cached outside the repository) on a
stratified test subset, every shift at severities 0..5 in three modes: ``random`` with one draw
(per sample one realisation: its accuracy estimates the mean over realisations), ``random``
with five draws (the worst of five kept) and ``adversarial`` (the five draws, then five signed
gradient steps on the shift's parameters, or a random search where it has no gradient). The
gap between the first and the last is what the worst case adds to a random corruption test.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import medrobust
from benchmarks import environment
from benchmarks.data import load_split
from benchmarks.models import ZOO, load_or_train
from benchmarks.ours import dataset
from medrobust.attacks.shifts import SHIFTS
from medrobust.results.atomic import write_json

SEVERITIES = [0, 1, 2, 3, 4, 5]
MODES: dict[str, dict[str, Any]] = {
    "one random draw": {"mode": "random", "draws": 1},
    "worst of 5 draws": {"mode": "random", "draws": 5},
    "adversarial": {"mode": "adversarial", "draws": 5, "steps": 5},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-shift-curves.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    spec = ZOO["smallcnn"]
    train = load_split(spec.subset, "train", file_size=28, skip_checksum=True, raw=True)
    test = load_split(spec.subset, "test", file_size=28, n=args.n, skip_checksum=True)
    model, training = load_or_train(spec, train, torch.device("cpu"))
    data = dataset(test.images, test.labels, "pneumoniamnist-test")
    points: dict[str, Any] = {}
    for name, cls in SHIFTS.items():
        points[name] = {"parameter": cls.PARAMETER, "units": cls.UNITS, "table": list(cls.TABLE)}
        for mode, params in MODES.items():
            t0 = time.perf_counter()
            res = medrobust.evaluate(model, data, [{"name": name, **params}], eps=SEVERITIES, bootstrap=0)
            seconds = time.perf_counter() - t0
            (curve,) = res.summary.attacks.values()
            points[name][mode] = {
                "accuracy": [round(b.robust_accuracy, 4) for b in curve.budgets],
                "seconds": round(seconds, 2),
                "seconds_per_1000_images": round(seconds / len(data) * 1000, 2),
            }
        one, adv = points[name]["one random draw"]["accuracy"], points[name]["adversarial"]["accuracy"]
        points[name]["gap_at_severity_5"] = round(one[-1] - adv[-1], 4)
        print(f"{name:11s} one draw {one}  adversarial {adv}")
    write_json(
        args.out,
        {
            "benchmark": "acquisition shifts on PneumoniaMNIST: one random draw, worst of 5, adversarial",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": environment.machine(torch.device("cpu")),
            "libraries": environment.libraries(),
            "setup": f"SmallCNN trained here ({training['recipe']['steps']} steps), {len(data)} stratified test "
            "images, severities 0..5, bootstrap 0; seconds include clean evaluation and summaries",
            "points": points,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
