"""What file space costs: the same network and CT slices swept in model space and in file space, timed.

Run from the repository root::

    python benchmarks/file_space_time.py --out benchmarks/results/cpu-file-space.json

A folder of CT slices is built from pydicom's ``CT_small.dcm`` (12 bits stored, noise and shifts,
nothing downloaded); one SmallCNN (random weights, seeded: the figure is cost, not robustness) is
swept with FGSM and PGD (10 steps) in the lung window at 64 x 64: in model space over k/255 of the
window, in file space over the same budgets in HU (1/255 of the lung window is 5.9 HU), with the
quantised curves and the perceptibility columns that file space adds. Each point is the median of
``--repeats`` runs in this process.
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pydicom
import torch
from pydicom.data import get_testdata_file

import medrobust
from benchmarks import environment
from medrobust.datasets.base import MedicalDataset
from medrobust.datasets.dicom import dicom
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.results.atomic import write_json

log = logging.getLogger("benchmarks.file_space_time")
HU_PER_255 = 1500 / 255  # one k/255 step of the lung window in HU


def ct_folder(folder: Path, n: int) -> Path:
    """``n`` noisy, shifted 12-bit CT slices and a labels CSV (labels alternate)."""
    src = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    rng = np.random.default_rng(0)
    lines = ["file,label"]
    for i in range(n):
        ds = copy.deepcopy(src)
        img = np.roll(src.pixel_array.astype(np.int32), tuple(rng.integers(-6, 7, size=2)), axis=(0, 1))
        img = img + rng.normal(0, 15, img.shape)
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
        ds.PixelData = np.clip(np.round(img), 0, 4095).astype(np.uint16).tobytes()
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(i)])
        ds.save_as(folder / f"s{i:03d}.dcm")
        lines.append(f"s{i:03d}.dcm,{i % 2}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def timed(model: ModelAdapter, data: MedicalDataset, eps: list[float], repeats: int) -> dict[str, Any]:
    """Median seconds of ``repeats`` sweeps, and the robust accuracies of the last one."""
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = medrobust.evaluate(model, data, ["fgsm", {"name": "pgd", "steps": 10}], eps=eps, bootstrap=0)
        seconds.append(time.perf_counter() - t0)
    curves = {k: [round(b.robust_accuracy, 4) for b in c.budgets] for k, c in res.summary.attacks.items()}
    return {"seconds": round(statistics.median(seconds), 3), "runs": [round(s, 3) for s in seconds], "curves": curves}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cpu-file-space.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    steps = [0, 1, 2, 4]
    with tempfile.TemporaryDirectory() as tmp:
        folder = ct_folder(Path(tmp), args.n)
        kw = {"window": "lung", "size": 64, "label_names": ["a", "b"]}
        model_space = dicom(folder, folder / "labels.csv", **kw)  # type: ignore[arg-type]
        file_space = dicom(folder, folder / "labels.csv", **kw, space="file")  # type: ignore[arg-type]
        torch.manual_seed(0)
        net = SmallCNN(1, 2)
        in_model = ModelAdapter(net, "binary", num_outputs=2, bounds=model_space.info.bounds)
        in_file = ModelAdapter(
            net, "binary", num_outputs=2, bounds=file_space.info.bounds, stages=file_space.info.stages
        )
        points = {
            "model space (k/255 of the window)": timed(in_model, model_space, [k / 255 for k in steps], args.repeats),
            "file space (HU, + quantised, + PSNR/SSIM)": timed(
                in_file, file_space, [k * HU_PER_255 for k in steps], args.repeats
            ),
        }
    report = {
        "benchmark": "one sweep in model space and in file space (DICOM CT, lung window, 64 x 64 model input)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": environment.machine(torch.device("cpu")),
        "libraries": environment.libraries(),
        "setup": f"{args.n} CT slices 128 x 128 from CT_small.dcm, SmallCNN (seeded, untrained), FGSM + PGD-10, "
        f"budgets 0, 1, 2, 4 /255 of the window = 0, 5.9, 11.8, 23.5 HU, bootstrap 0, {args.repeats} repeats",
        "points": points,
    }
    write_json(args.out, report)
    for name, point in points.items():
        print(f"{name}: {point['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
