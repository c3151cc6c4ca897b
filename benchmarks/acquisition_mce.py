"""The acquisition suite's mean corruption error on BreastMNIST: a trained SmallCNN against a less-trained reference.

Run from the repository root::

    python benchmarks/acquisition_mce.py --out benchmarks/results/cpu-acquisition-mce-breastmnist.json

The zoo's ``breastcnn`` (a SmallCNN, 400 training steps) is the model under test; the same
network after 100 steps is the reference, as AlexNet is ImageNet-C's. Both run
``suite="acquisition"`` (ultrasound: noise, blur, contrast, gamma, JPEG; random and adversarial
mode) on the whole test split at severities 0..5; the candidate's run is read against the
reference's folder (``reference=``), exactly as ``medrobust run --suite acquisition --reference``.
"""

from __future__ import annotations

import argparse
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

import medrobust
from benchmarks import environment
from benchmarks.data import load_split
from benchmarks.models import ZOO, load_or_train
from benchmarks.ours import dataset
from medrobust.results.atomic import write_json

REFERENCE_STEPS = 100
SUITE = {"name": "acquisition", "modality": "US", "draws": 5, "steps": 5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=156)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-acquisition-mce-breastmnist.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    spec = ZOO["breastcnn"]
    device = torch.device("cpu")
    train = load_split(spec.subset, "train", file_size=28, skip_checksum=True, raw=True)
    test = load_split(spec.subset, "test", file_size=28, n=args.n, skip_checksum=True)
    data = dataset(test.images, test.labels, "breastmnist-test")
    candidate, trained = load_or_train(spec, train, device)
    reference, reference_trained = load_or_train(spec, train, device, steps=REFERENCE_STEPS)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ref = medrobust.evaluate(reference, data, suite=SUITE, bootstrap=0, out_dir=Path(tmp) / "reference")
        runs["reference"] = {"clean_accuracy": ref.clean_accuracy, "seconds": round(time.perf_counter() - t0, 2)}
        t0 = time.perf_counter()
        res = medrobust.evaluate(candidate, data, suite=SUITE, bootstrap=0, reference=str(Path(tmp) / "reference"))
        runs["candidate"] = {"clean_accuracy": res.clean_accuracy, "seconds": round(time.perf_counter() - t0, 2)}
    corruption = res.summary.corruption
    assert corruption is not None
    for label, e in corruption.shifts.items():
        print(f"{label:22s} CE {e.ce:.3f}  relative CE {e.relative_ce:.3f}  relative drop {e.relative_drop:.3f}")
    for mode, m in corruption.modes.items():
        print(f"{mode:12s} mCE {m.mce:.3f}  relative mCE {m.relative_mce:.3f}  mean drop {m.mean_relative_drop:.3f}")
    write_json(
        args.out,
        {
            "benchmark": "acquisition suite mCE on BreastMNIST: breastcnn against its 100-step self",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": environment.machine(device),
            "libraries": environment.libraries(),
            "setup": f"{len(data)} BreastMNIST test images; candidate {trained['recipe']['steps']} training steps, "
            f"reference {reference_trained['recipe']['steps']}; suite {SUITE}; severities 0..5; bootstrap 0",
            "command": "python benchmarks/acquisition_mce.py",
            "runs": runs,
            "corruption": corruption.to_dict(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
