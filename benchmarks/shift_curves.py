"""Acquisition shifts on real data: one random draw, the worst of five, and the adversarial search, per severity.

Run from the repository root::

    python benchmarks/shift_curves.py --out benchmarks/results/cpu-shift-curves.json
    python benchmarks/shift_curves.py --model breastcnn --n 300
    python benchmarks/shift_curves.py --model monai3d --size 28 --train-steps 100 --n 48 --severities 0,1,3,5

A benchmark model of the zoo (``--model``, a key of :data:`benchmarks.models.ZOO`: its data
set is the spec's MedMNIST subset; trained here, cached outside the repository) on a stratified
test subset, every shift at severities 0..5 in three modes: ``random`` with one draw (per sample
one realisation: its accuracy estimates the mean over realisations), ``random`` with five draws
(the worst of five kept, and the mean over the five) and ``adversarial`` (the five draws, then
five signed gradient steps on the shift's parameters, or a random search where it has no
gradient). The gap between the first and the last is what the worst case adds to a random
corruption test. A shift that does not apply to the data (a colour shift on grey images) is
skipped, with the shift's own reason recorded in the JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import Tensor

import medrobust
from benchmarks import environment
from benchmarks.data import load_split
from benchmarks.models import ZOO, ModelSpec, load_or_train
from benchmarks.ours import dataset
from medrobust.attacks.base import make_generator
from medrobust.attacks.shifts import SHIFTS
from medrobust.attacks.shifts.base import Shift, severity_level
from medrobust.results.atomic import write_json

SEVERITIES = [0, 1, 2, 3, 4, 5]
MODES: dict[str, dict[str, Any]] = {
    "one random draw": {"mode": "random", "draws": 1},
    "worst of 5 draws": {"mode": "random", "draws": 5},
    "adversarial": {"mode": "adversarial", "draws": 5, "steps": 5},
}
RESULTS = Path("benchmarks/results")


def skip_reason(cls: type[Shift], x: Tensor, bounds: tuple[float, float]) -> str | None:
    """Why shift ``cls`` does not apply to samples like ``x`` (its own error message), or ``None``.

    Each shift checks what it accepts when applied (the colour shifts refuse anything but
    3 channels), so one sample is shifted at the table's last level to ask it.
    """
    shift = cls()
    sample = x[:1]
    level = severity_level(cls.TABLE, torch.tensor([float(len(cls.TABLE) - 1)]))
    try:
        shift.apply(sample, shift.draw(sample, make_generator(sample.device, 0)), level, bounds)
    except ValueError as exc:
        return str(exc)
    return None


def model_spec(name: str, size: int | None) -> ModelSpec:
    """``ZOO[name]``, read from the MedMNIST file of side ``size`` (and run at it) when given."""
    spec = ZOO[name]
    return spec if size is None else dataclasses.replace(spec, file_size=size, size=size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(ZOO), default="smallcnn", help="benchmark model (its data set)")
    parser.add_argument("--size", type=int, help="MedMNIST file side to read and run at (default: the spec's)")
    parser.add_argument("--train-steps", type=int, help="training steps (default: the spec's)")
    parser.add_argument("--n", type=int, default=500, help="stratified test images (all when larger)")
    parser.add_argument("--severities", default=",".join(map(str, SEVERITIES)), help="comma-separated, 0 first")
    parser.add_argument("--shifts", help="comma-separated names (default: every shift)")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/cpu-shift-curves[-<subset>].json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    spec = model_spec(args.model, args.size)
    severities = [int(s) for s in args.severities.split(",")]
    names = args.shifts.split(",") if args.shifts else list(SHIFTS)
    suffix = "" if spec.subset == "pneumoniamnist" else f"-{spec.subset}"
    out = args.out or RESULTS / f"cpu-shift-curves{suffix}.json"
    train = load_split(spec.subset, "train", file_size=spec.file_size, skip_checksum=spec.skip_checksum, raw=True)
    test = load_split(
        spec.subset, "test", file_size=spec.file_size, size=spec.size, n=args.n, skip_checksum=spec.skip_checksum
    )
    model, training = load_or_train(spec, train, torch.device("cpu"), steps=args.train_steps)
    data = dataset(test.images, test.labels, f"{spec.subset}-test")
    points: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    clean_accuracy = None
    for name in names:
        cls = SHIFTS[name]
        reason = skip_reason(cls, test.images, model.bounds)
        if reason is not None:
            skipped[name] = reason
            print(f"{name:11s} skipped: {reason}")
            continue
        points[name] = {"parameter": cls.PARAMETER, "units": cls.UNITS, "table": list(cls.TABLE)}
        for mode, params in MODES.items():
            t0 = time.perf_counter()
            res = medrobust.evaluate(model, data, [{"name": name, **params}], eps=severities, bootstrap=0)
            seconds = time.perf_counter() - t0
            clean_accuracy = res.clean_accuracy
            (curve,) = res.summary.attacks.values()
            point: dict[str, Any] = {"accuracy": [round(b.robust_accuracy, 4) for b in curve.budgets]}
            if params["mode"] == "random" and params["draws"] > 1:
                # mean over the draws per severity (a shift's random mode adds it to each point)
                point["mean_of_draws"] = [round((b.model_extra or {})["mean_accuracy"], 4) for b in curve.budgets]
            point["seconds"] = round(seconds, 2)
            point["seconds_per_1000_images"] = round(seconds / len(data) * 1000, 2)
            points[name][mode] = point
        one, adv = points[name]["one random draw"]["accuracy"], points[name]["adversarial"]["accuracy"]
        points[name][f"gap_at_severity_{severities[-1]}"] = round(one[-1] - adv[-1], 4)
        print(f"{name:11s} one draw {one}  adversarial {adv}  ({points[name]['adversarial']['seconds']} s)")
    shape = "x".join(str(s) for s in test.images.shape[2:])
    write_json(
        out,
        {
            "benchmark": f"acquisition shifts on {test.name}: one random draw, worst of 5, adversarial",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": environment.machine(torch.device("cpu")),
            "libraries": environment.libraries(),
            "command": "python benchmarks/shift_curves.py " + " ".join(sys.argv[1:]),
            "setup": f"{spec.name} ({args.model}) trained here ({training['recipe']['steps']} steps, "
            f"{training['trained_seconds']} s), {len(data)} stratified test images of {shape}, "
            f"severities {','.join(map(str, severities))}, bootstrap 0; seconds include clean evaluation and "
            "summaries",
            "model": args.model,
            "subset": spec.subset,
            "n": len(data),
            "severities": severities,
            "clean_accuracy": None if clean_accuracy is None else round(clean_accuracy, 4),
            "training": training["recipe"] | {"trained_seconds": training["trained_seconds"]},
            "skipped": skipped,
            "points": points,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
