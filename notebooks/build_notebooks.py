"""Write the notebooks in this folder from the cell sources below (without outputs).

Edit the cells here, then run ``python notebooks/build_notebooks.py``; tests/test_notebooks.py
checks that the committed notebooks match this script and runs each one top to bottom.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from file_space_notebook import FILE_SPACE
from shifts_notebook import SHIFTS_NOTEBOOK

HERE = Path(__file__).resolve().parent

DATA_CELL = """%matplotlib inline
import os
from pathlib import Path

# Real data where MEDROBUST_DATA points to a folder with medmnist/*.npz; synthetic images otherwise.
DATA = Path(os.environ.get("MEDROBUST_DATA", "data")).expanduser() / "medmnist"
print("MedMNIST folder:", DATA, "(found)" if DATA.is_dir() else "(not found: synthetic fallback)")"""

QUICKSTART = [
    "md",
    """# Quickstart: a robustness sweep, its curve and its gallery

This notebook trains the demo model (a small CNN on seeded synthetic lesion images, a few
seconds on a laptop CPU), sweeps FGSM and PGD over budgets of 0 to 8/255 with
`medrobust.evaluate`, and shows what clinicians ask about: how accuracy, AUROC,
sensitivity and specificity fall as the perturbation grows, for whom, and what the
adversarial images look like. Nothing is downloaded.""",
    "code",
    """%matplotlib inline
import logging

import medrobust
from medrobust.datasets.synthetic import synthetic
from medrobust.models.demo import demo_model

logging.basicConfig(level=logging.WARNING)""",
    "md",
    """## The model and the data

`demo_model()` returns a `ModelAdapter`: it wraps the network, declares the image bounds
`[0, 1]` and the head (binary, two logits). The test images carry `sex` and `site`
metadata, the subgroups we will split the metrics by.""",
    "code",
    """model = demo_model()
test = synthetic(200, task="binary", seed=1000)
print(test.info.name, len(test), "images; labels:", test.info.label_names)
model.describe()""",
    "md",
    """## The sweep

One call. Budgets are visited in ascending order and only samples that are still robust
are attacked again, so the curve is monotone by construction. With `out_dir` the results
folder (JSON, CSV, HTML report) is written as well.""",
    "code",
    """results = medrobust.evaluate(
    model,
    test,
    attacks=["fgsm", {"name": "pgd", "steps": 10}],
    eps=[0, "1/255", "2/255", "4/255", "8/255"],
    subgroups=["sex", "site"],
    bootstrap=100,
    out_dir="results/quickstart",
)
print(results.table())""",
    "md",
    "## The robustness curve\n\nRobust accuracy and AUROC against the budget, with bootstrap confidence bands.",
    "code",
    "results.plot()",
    "code",
    """columns = ["attack", "label", "robust_accuracy", "drop", "auroc", "sensitivity", "specificity"]
results.to_dataframe()[columns]""",
    "md",
    """## The gallery

Clean images, their adversarial versions at the largest budget, and the (amplified)
difference. Pixels only: no identifiers ever reach a report.""",
    "code",
    """from medrobust.reports.gallery import gallery_figure

gallery_figure(results.gallery, "pgd-linf", results.clean, results.rows, test.info.label_names, model.bounds)""",
    "md",
    "## Subgroups\n\nThe gap between the most and the least robust group at each budget.",
    "code",
    """{column: split["gap"]["pgd-linf"] for column, split in results.summary["subgroups"].items()}""",
    "md",
    """## The same checks as in a pytest suite

`check_robust` (and `assert_robust`, which raises) verify thresholds at every budget up to
`eps` and name the first budget that falls short; `@pytest.mark.robustness` uses them.""",
    "code",
    """from medrobust.gates.assertions import check_robust

print(check_robust(results, attack="pgd", eps="4/255", min_accuracy=0.8).message())""",
    "md",
    "The results folder holds everything the report needs; open `report.html` in a browser.",
    "code",
    "sorted(p.name for p in results.path.iterdir())",
]

MEDMNIST_2D = [
    "md",
    """# MedMNIST 2D: BreastMNIST (breast ultrasound)

Reads the official `breastmnist.npz` from `$MEDROBUST_DATA/medmnist` and checks its MD5;
without the file the notebook falls back to synthetic images of the same shape, so it runs
anywhere. A small CNN is trained on the training split (seconds), then attacked on the
test split. In BreastMNIST class 0 is *malignant* and class 1 *normal or benign*.""",
    "code",
    DATA_CELL,
    "code",
    """from medrobust.datasets.registry import build_dataset
from medrobust.datasets.synthetic import synthetic

if (DATA / "breastmnist.npz").is_file():
    train = build_dataset("medmnist", subset="breastmnist", root=DATA, split="train")
    test = build_dataset("medmnist", subset="breastmnist", root=DATA, split="test")
else:
    train = synthetic(546, task="binary", seed=1)
    test = synthetic(156, task="binary", seed=2)
print(test.info.name, len(test), "test images;", test.info.label_names, "; units:", test.info.units)
dict(test.info.extra)""",
    "md",
    "## A model to test\n\nIn practice: your checkpoint, wrapped once. Here: a small CNN trained on the spot.",
    "code",
    """import torch

from medrobust import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

torch.manual_seed(0)
model = ModelAdapter(
    SmallCNN(in_channels=1, num_outputs=2), "binary", num_outputs=2, bounds=test.info.bounds,
    mean=0.33, std=0.2, input_shape=(1, 28, 28), name="breast-cnn",  # normalisation lives in the adapter
)
train_classifier(model, train, model.head, epochs=10, seed=0)""",
    "md",
    """## The sweep

Budgets in grey levels of the 8-bit image (`k/255`). The sweep checks on a few samples that
the wrapped model predicts exactly what the native one does before it attacks.""",
    "code",
    """import medrobust

results = medrobust.evaluate(
    model,
    test,
    attacks=["fgsm", {"name": "pgd", "steps": 10}],
    eps=[0, "1/255", "2/255", "4/255"],
    bootstrap=100,
)
print(results.table())""",
    "code",
    "results.plot()",
    "md",
    """Per-class accuracy shows who pays for the attack: here, the recall of *malignant* cases
(class 0) is what a screening deployment cares about.""",
    "code",
    """{b["label"]: b["per_class"] for b in results.curve("pgd")}""",
    "md",
    """## A modified file: skip the checksum explicitly

The shared `pneumoniamnist.npz` is a modified copy (its training split was subsampled), so
its MD5 does not match the official one. medrobust refuses it unless told otherwise, and
records the decision in the dataset's description (and so in every run manifest).""",
    "code",
    """from medrobust.errors import DataError

if (DATA / "pneumoniamnist.npz").is_file():
    try:
        build_dataset("medmnist", subset="pneumoniamnist", root=DATA)
    except DataError as exc:
        print("refused:", exc)
    pneumonia = build_dataset("medmnist", subset="pneumoniamnist", root=DATA, skip_checksum=True)
    print(pneumonia.info.extra["checksum"])""",
]

MEDMNIST_3D = [
    "md",
    """# MedMNIST 3D: AdrenalMNIST3D (CT volumes, 28³)

The same sweep on volumes: attacks perturb every voxel, the model is a 3D CNN, the
gallery shows the middle slice. Reads `adrenalmnist3d.npz` from `$MEDROBUST_DATA/medmnist`
and falls back to synthetic volumes without it. Kept small (a few hundred training
volumes, a narrow network) so it runs in about a minute on a laptop CPU.""",
    "code",
    DATA_CELL,
    "code",
    """from medrobust.datasets.registry import build_dataset
from medrobust.datasets.synthetic import synthetic

if (DATA / "adrenalmnist3d.npz").is_file():
    train = build_dataset("medmnist", subset="adrenalmnist3d", root=DATA, split="train")
    test = build_dataset("medmnist", subset="adrenalmnist3d", root=DATA, split="test")
else:
    train = synthetic(600, task="binary", spatial_dims=3, seed=1)
    test = synthetic(128, task="binary", spatial_dims=3, seed=2)
print(test.info.name, len(test), "volumes of shape", tuple(test[0][0].shape), "; labels:", test.info.label_names)
print("positives in training:", train.labels().mean().round(2))""",
    "md",
    """## A model and its operating point

Only about a fifth of the volumes are positive, so a small network trained on the raw
split learns to say "normal". We train on a balanced subset (200 of each class) and set
the operating threshold on the training split so that the model flags as many cases as
the prevalence: clinical deployments rarely run at 0.5, and the threshold is part of the
head, so every metric and attack uses it.""",
    "code",
    """import numpy as np
import torch

from medrobust import ModelAdapter
from medrobust.datasets.base import Subset
from medrobust.heads import make_head
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

labels = train.labels()
rng = np.random.default_rng(0)
balanced = np.sort(np.concatenate([rng.choice(np.nonzero(labels == c)[0], 200, replace=False) for c in (0, 1)]))
torch.manual_seed(0)
net = SmallCNN(in_channels=1, num_outputs=2, spatial_dims=3, width=8)
train_classifier(net, Subset(train, balanced), make_head("binary", 2), epochs=6, seed=0)

shape = tuple(test[0][0].shape)
scorer = ModelAdapter(net, "binary", num_outputs=2, input_shape=shape)
scores = scorer.head.positive_score(scorer.logits(torch.stack([train[i][0] for i in range(len(train))])))
threshold = float(np.quantile(scores.numpy(), 1 - labels.mean()))
model = ModelAdapter(net, "binary", num_outputs=2, threshold=threshold, bounds=test.info.bounds, input_shape=shape, name="adrenal-cnn3d")
print(f"operating threshold {threshold:.3f}")""",
    "md",
    "## The sweep on 64 test volumes (a stratified subset)",
    "code",
    """import medrobust

results = medrobust.evaluate(
    model,
    test,
    attacks=["fgsm", {"name": "pgd", "steps": 5}],
    eps=[0, "1/255", "2/255", "4/255"],
    n=64,
    bootstrap=100,
)
print(results.table())""",
    "code",
    "results.plot()",
    "code",
    """from medrobust.reports.gallery import gallery_figure

gallery_figure(results.gallery, "pgd-linf", results.clean, results.rows, test.info.label_names, model.bounds)""",
    "md",
    "Each sample's smallest breaking budget is in the rows; its median summarises how easily the model breaks.",
    "code",
    """{attack: a["median_min_budget"] * 255 for attack, a in results.summary["attacks"].items()}  # in grey levels""",
]

DICOM = [
    "md",
    """# DICOM and Hounsfield units: what a budget means under a window

CT pixels are Hounsfield units (HU). A model sees them either through a *window* mapped
onto `[0, 1]` (lung, mediastinum, ...) or as HU directly. A budget of 1/255 in the lung
window (width 1500 HU) is about 5.9 HU; in the mediastinum window (width 350 HU) it is
1.4 HU. medrobust attacks in the space the dataset yields and reports budgets in its
units. This notebook builds a small CT set from pydicom's bundled `CT_small.dcm`
(half the slices get a synthetic nodule), reads it with `medrobust.datasets.dicom`,
and sweeps one model in the lung window and one in HU.""",
    "code",
    """%matplotlib inline
import copy
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from pydicom.uid import generate_uid

src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
hu = apply_modality_lut(src.pixel_array, src).astype(np.float64)
print("slice", hu.shape, "HU range", hu.min(), hu.max(), "; slope/intercept", src.RescaleSlope, src.RescaleIntercept)""",
    "md",
    """## A small labelled DICOM folder

120 noisy, shifted copies; every other one gets a soft-tissue nodule (+700 HU, radius 8
pixels) in the air of the lung field. A CSV names each file and its label; 96 files
train, 24 test.""",
    "code",
    """folder = Path(tempfile.mkdtemp(prefix="medrobust-dicom-"))
rng = np.random.default_rng(0)
yy, xx = np.mgrid[: hu.shape[0], : hu.shape[1]]
lines = {"train": ["file,label"], "test": ["file,label"]}
for i in range(120):
    label = i % 2
    img = np.roll(hu, tuple(rng.integers(-6, 7, size=2)), axis=(0, 1)) + rng.normal(0, 15, hu.shape)
    if label:
        lung = np.argwhere(img[16:-16, 16:-16] < -600) + 16
        cy, cx = lung[rng.integers(len(lung))]
        img += 700 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= 8**2)
    ds = copy.deepcopy(src)
    stored = np.round((img - float(src.RescaleIntercept)) / float(src.RescaleSlope))
    ds.PixelData = np.clip(stored, -32768, 32767).astype(np.int16).tobytes()
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(folder / f"slice{i:03d}.dcm")
    lines["train" if i < 96 else "test"].append(f"slice{i:03d}.dcm,{label}")
for split, rows in lines.items():
    (folder / f"{split}.csv").write_text("\\n".join(rows) + "\\n")
print(folder, len(list(folder.glob("*.dcm"))), "files")""",
    "md",
    '## Windows\n\nThe same slice under three presets, and in HU (`window="raw"`, bounds -1024..3071).',
    "code",
    """from matplotlib.figure import Figure

from medrobust.datasets.dicom import dicom

names = ["normal", "nodule"]
views = {w: dicom(folder, folder / "test.csv", window=w, label_names=names, size=64) for w in ("lung", "mediastinum", "bone", "raw")}
fig = Figure(figsize=(10, 2.8))
for ax, (w, data) in zip(fig.subplots(1, 4), views.items(), strict=True):
    image, label, meta = data[1]
    ax.imshow(image[0], cmap="gray")
    ax.set_title(f"{w}: {data.info.bounds}", fontsize=9)
    ax.axis("off")
print("units of the lung view:", views["lung"].info.units)
print("units of the raw view: ", views["raw"].info.units)
print("metadata kept from the header (no identifiers):", views["lung"][1][2])
fig""",
    "md",
    "## A model in the lung window: budgets in `k/255` of the window",
    "code",
    """import torch

import medrobust
from medrobust import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

lung_train = dicom(folder, folder / "train.csv", window="lung", label_names=names, size=64)
lung_test = views["lung"]
torch.manual_seed(0)
lung_model = ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, bounds=lung_test.info.bounds, mean=0.6, std=0.3, input_shape=(1, 64, 64), name="nodule-cnn-lung")
train_classifier(lung_model, lung_train, lung_model.head, epochs=30, batch_size=16, seed=0)  # through the adapter: its normalisation is part of the model
lung = medrobust.evaluate(lung_model, lung_test, attacks=[{"name": "pgd", "steps": 10}], eps=[0, "1/255", "2/255", "4/255"], bootstrap=0)
print(lung.table())
print("1/255 of the lung window is", round(1500 / 255, 1), "HU")""",
    "md",
    """## A model on Hounsfield units: budgets in HU

The adapter normalises HU inside the model (`mean`, `std`), so attacks act on HU and
respect the declared bounds; budgets are plain HU values.""",
    "code",
    """hu_train = dicom(folder, folder / "train.csv", window="raw", label_names=names, size=64)
hu_test = views["raw"]
torch.manual_seed(0)
hu_model = ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, bounds=hu_test.info.bounds, mean=0.0, std=500.0, input_shape=(1, 64, 64), name="nodule-cnn-hu")
train_classifier(hu_model, hu_train, hu_model.head, epochs=30, batch_size=16, seed=0)
in_hu = medrobust.evaluate(hu_model, hu_test, attacks=[{"name": "pgd", "steps": 10}], eps=[0, 3, 6, 12, 24], bootstrap=0)
print(in_hu.table())
print("data units:", in_hu.manifest["data"]["units"])""",
]

BYO = [
    "md",
    """# Bring your own model: torchvision, MONAI, TorchScript, ART

Whatever the model, medrobust wraps it once in a `ModelAdapter` (preprocessing, bounds,
head) and proves the wrapping changed nothing (`verify`) before any attack. Each section
builds the model the way a team would (architectures by name, weights from a local file
with `weights_only=True`, nothing downloaded), trains it for a moment on synthetic lesion
images as a stand-in for real weights, and runs the same small sweep.""",
    "code",
    """import logging
import tempfile
from pathlib import Path

import torch

import medrobust
from medrobust.datasets.synthetic import synthetic
from medrobust.models.registry import build_model
from medrobust.models.training import train_classifier

logging.basicConfig(level=logging.WARNING)
work = Path(tempfile.mkdtemp(prefix="medrobust-byo-"))
train = synthetic(512, task="binary", seed=1)
test = synthetic(48, task="binary", seed=2)
SWEEP = {"attacks": ["fgsm", {"name": "pgd", "steps": 5}], "eps": [0, "1/255", "2/255"], "bootstrap": 0}""",
    "md",
    """## torchvision

`build_model("torchvision", name=..., weights=FILE)` sizes the first convolution and the
classifier to the task and loads a local state dict (never downloads). The normalisation
(`mean`, `std`) lives in the adapter, so attacks still perturb `[0, 1]` images and the
budgets stay in grey levels; training through the adapter keeps it consistent.""",
    "code",
    """NORM = {"mean": 0.4, "std": 0.15}
torch.manual_seed(0)
resnet = build_model("torchvision", name="resnet18", num_classes=2, in_channels=1, head="binary", input_shape=(1, 28, 28), **NORM)
train_classifier(resnet, train, resnet.head, epochs=1, lr=1e-3, seed=0)
torch.save(resnet.model.state_dict(), work / "resnet18.pt")  # your checkpoint

resnet = build_model("torchvision", name="resnet18", weights=work / "resnet18.pt", num_classes=2, in_channels=1, head="binary", input_shape=(1, 28, 28), **NORM)
print(medrobust.evaluate(resnet, test, **SWEEP).table())""",
    "md",
    "## MONAI\n\nMONAI networks by name, 2D or 3D (`spatial_dims`).",
    "code",
    """torch.manual_seed(0)
monai_net = build_model("monai", name="ResNet18", num_classes=2, in_channels=1, spatial_dims=2, head="binary", input_shape=(1, 28, 28), **NORM)
train_classifier(monai_net, train, monai_net.head, epochs=4, lr=1e-3, seed=0)
print(medrobust.evaluate(monai_net, test, **SWEEP).table())""",
    "md",
    """## TorchScript

A scripted model file loads without pickle. `verify` checks the adapter against the
original network on a batch: same predictions, same logits.""",
    "code",
    """from medrobust.models.demo import demo_model

native = demo_model().model
torch.jit.script(native).save(str(work / "lesion.ts"))
scripted = build_model("torchscript", weights=work / "lesion.ts", num_classes=2, head="binary", input_shape=(1, 28, 28))
x = torch.stack([test[i][0] for i in range(16)])
print(scripted.verify(x, reference=native))
print(medrobust.evaluate(scripted, test, **SWEEP).table())""",
    "md",
    """## An ART estimator

A team that already wraps its model as an ART `PyTorchClassifier` (here with ART's own
normalisation) wraps the same network once more, with the same mean and std, and checks
it against ART's predictions. The adapter can also hand itself back to ART, so ART's
attacks run inside the same sweep (`art:<ClassName>`) next to the native ones.""",
    "code",
    """from art.estimators.classification import PyTorchClassifier

from medrobust import ModelAdapter
from medrobust.models.art_estimator import to_art, verify_art
from medrobust.models.small_cnn import SmallCNN

torch.manual_seed(0)
net = SmallCNN(1, 2)
estimator = PyTorchClassifier(  # the team's estimator: ART normalises with mean 0.5, std 0.25
    model=net, loss=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(net.parameters(), lr=2e-3),
    input_shape=(1, 28, 28), nb_classes=2, clip_values=(0.0, 1.0), preprocessing=(0.5, 0.25),
)
estimator.fit(train.images.numpy(), train.labels(), nb_epochs=3, batch_size=32)

adapter = ModelAdapter(estimator.model, "binary", num_outputs=2, bounds=estimator.clip_values, mean=0.5, std=0.25, input_shape=(1, 28, 28), name="from-art")
print(adapter.verify(x, reference=lambda batch: torch.as_tensor(estimator.predict(batch.numpy()))))
print("ART agrees with the adapter on", verify_art(adapter, x, to_art(adapter)), "samples")
both = medrobust.evaluate(
    adapter, test,
    attacks=[{"name": "pgd", "steps": 5}, {"name": "art:ProjectedGradientDescent", "max_iter": 5}],
    eps=[0, "1/255", "2/255"], bootstrap=0,
)
print(both.table())""",
]

NOTEBOOKS = {
    "01_quickstart.ipynb": QUICKSTART,
    "02_medmnist_2d.ipynb": MEDMNIST_2D,
    "03_medmnist_3d.ipynb": MEDMNIST_3D,
    "04_dicom_hu_windows.ipynb": DICOM,
    "05_bring_your_own_model.ipynb": BYO,
    "06_dicom_file_space.ipynb": FILE_SPACE,
    "07_acquisition_shifts.ipynb": SHIFTS_NOTEBOOK,
}


def build(cells: list[str]) -> nbformat.NotebookNode:
    """A notebook from alternating ``kind, source`` entries, with no outputs."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in zip(cells[::2], cells[1::2], strict=True):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell.pop("id", None)
        nb.cells.append(cell)
    nb.nbformat_minor = 4  # no cell ids: stable files
    return nb


def render(cells: list[str]) -> str:
    """The notebook's file content."""
    return nbformat.writes(build(cells)) + "\n"


def main() -> int:
    """Write every notebook; with ``--check``, only report which ones differ (exit 1)."""
    check = "--check" in sys.argv[1:]
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = render(cells)
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text)
    for name in stale:
        print(f"{'stale' if check else 'wrote'} notebooks/{name}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
