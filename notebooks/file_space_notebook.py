"""The cells of ``06_dicom_file_space.ipynb`` (imported by ``build_notebooks.py``)."""

FILE_SPACE = [
    "md",
    """# The attacker edits the file: DICOM file space, in HU, quantised and written back

In model space an attack edits the windowed, resized tensor the loader made. A hospital
security review asks another question: *if someone alters the stored CT in the PACS, how small
an edit changes the diagnosis, and does it survive being saved?* With `space="file"` the sample
is the stored pixel data in HU at native resolution, bounded by what the file can store; the
window and the resize move into the model, so budgets are HU. Every attack also gets a
`+quantised` curve: its examples rounded onto the stored-value grid, each one writable into a
valid file. This notebook builds a small CT folder from pydicom's `CT_small.dcm`, trains a
nodule classifier in model space, proves the two spaces agree on clean images, sweeps PGD in HU,
writes the adversarial DICOMs and re-reads them to the same predictions.""",
    "code",
    """%matplotlib inline
import copy
import csv
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import torch
from matplotlib.figure import Figure
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from pydicom.uid import generate_uid

import medrobust
from medrobust import ModelAdapter
from medrobust.datasets.dicom import dicom
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
hu = apply_modality_lut(src.pixel_array, src).astype(np.float64)""",
    "md",
    """## A labelled CT folder stored as 12-bit CT is

80 noisy, shifted copies, every other one with a soft-tissue nodule (+700 HU) in the lung
field; 12 bits stored (0..4095, intercept -1024: -1024..3071 HU, the range a valid file holds).""",
    "code",
    """folder = Path(tempfile.mkdtemp(prefix="medrobust-file-space-"))
rng = np.random.default_rng(0)
yy, xx = np.mgrid[: hu.shape[0], : hu.shape[1]]
lines = {"train": ["file,label"], "test": ["file,label"]}
for i in range(80):
    label = i % 2
    img = np.roll(hu, tuple(rng.integers(-6, 7, size=2)), axis=(0, 1)) + rng.normal(0, 15, hu.shape)
    if label:
        lung = np.argwhere(img[16:-16, 16:-16] < -600) + 16
        cy, cx = lung[rng.integers(len(lung))]
        img += 700 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= 8**2)
    ds = copy.deepcopy(src)
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
    ds.PixelData = np.clip(np.round(img + 1024), 0, 4095).astype(np.uint16).tobytes()
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(folder / f"slice{i:03d}.dcm")
    lines["train" if i < 60 else "test"].append(f"slice{i:03d}.dcm,{label}")
for split, rows in lines.items():
    (folder / f"{split}.csv").write_text("\\n".join(rows) + "\\n")
names = ["normal", "nodule"]
kw = {"window": "lung", "size": 64, "label_names": names}
model_space = dicom(folder, folder / "test.csv", **kw)
file_space = dicom(folder, folder / "test.csv", **kw, space="file")
print("model space:", model_space.info.bounds, tuple(model_space[0][0].shape))
print("file space: ", file_space.info.bounds, tuple(file_space[0][0].shape), file_space.info.grid)
print("the model takes over:", [s.describe() for s in file_space.info.stages])""",
    "md",
    "## Train in model space, then wrap the same network for file space",
    "code",
    """torch.manual_seed(0)
net = SmallCNN(1, 2)
norm = {"mean": 0.6, "std": 0.3}
lung_model = ModelAdapter(net, "binary", num_outputs=2, bounds=(0.0, 1.0), input_shape=(1, 64, 64), **norm)
train = dicom(folder, folder / "train.csv", **kw)
train_classifier(lung_model, train, lung_model.head, epochs=30, batch_size=16, seed=0)
stages = file_space.info.stages  # the same network, the window and resize in front of it
file_model = ModelAdapter(net, "binary", num_outputs=2, bounds=file_space.info.bounds, stages=stages, **norm)
x_model = torch.stack([model_space[i][0] for i in range(len(model_space))])
x_file = torch.stack([file_space[i][0] for i in range(len(file_space))])
gap = (lung_model.logits(x_model) - file_model.logits(x_file)).abs().max()
print("largest clean logit difference between the spaces:", float(gap))
print(file_model.verify(x_file))""",
    "md",
    """## PGD in HU: float and quantised curves

Budgets are HU. The quantised curve rounds each adversarial image onto the stored grid (1 HU
here) inside the budget: the number to quote to a security review.""",
    "code",
    """adv_dir = folder / "adversarial"
res = medrobust.evaluate(
    file_model, file_space, attacks=[{"name": "pgd", "steps": 10}], eps=[0, 2, 5, 10, 20, 50],
    bootstrap=0, write_adversarial=adv_dir,
)
print(res.table())
fig = Figure(figsize=(5, 3.2))
ax = fig.subplots()
for label in ("pgd-linf", "pgd-linf+quantised"):
    points = res.summary.attacks[label].budgets
    ax.plot([b.eps for b in points], [b.robust_accuracy for b in points], marker="o", label=label)
ax.set_xlabel("budget (HU)")
ax.set_ylabel("robust accuracy")
ax.legend()
fig""",
    "md",
    """## The adversarial DICOMs, re-read

Each copy keeps its source's attributes (identifiers too: this folder is yours, never the
results folder), with new deterministic UIDs, `ImageType` DERIVED and a `DerivationDescription`.
Read back with the same loader and model, they give exactly the predictions the rows report.""",
    "code",
    """written = adv_dir / "pgd-linf+quantised" / "20"
index = list(csv.DictReader((written / "index.csv").open()))
reread = dicom(written, written / "index.csv", **kw, space="file")
x_back = torch.stack([reread[i][0] for i in range(len(reread))])
preds = file_model.head.predict(file_model.logits(x_back)).tolist()
sample_of = dict(zip(res.clean["sample_id"], res.clean["sample"], strict=True))
rows = res.rows[(res.rows["attack"] == "pgd-linf+quantised") & (res.rows["eps"] == 20)]
reported = dict(zip(rows["sample"], rows["pred"], strict=True))
same = preds == [int(reported[sample_of[r["sample_id"]]]) for r in index]
print("re-read predictions equal the reported ones:", same)
copy_ds = pydicom.dcmread(written / index[0]["file"])
print(copy_ds.ImageType, "|", copy_ds.DerivationDescription)
sources = [line.split(",")[0] for line in lines["test"][1:]]  # the test CSV's order is the sample order
changes = []
for r in index:
    before = pydicom.dcmread(folder / sources[sample_of[r["sample_id"]]]).pixel_array.astype(int)
    changes.append(np.abs(pydicom.dcmread(written / r["file"]).pixel_array.astype(int) - before))
changed = [c for c in changes if c.any()]
print(len(changed), "of", len(changes), "files edited; largest change", max(int(c.max()) for c in changed), "HU;",
      "mean change per edited file", round(float(np.mean([c.mean() for c in changed])), 2), "HU")""",
]
