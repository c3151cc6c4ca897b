"""The cells of ``07_acquisition_shifts.ipynb`` (imported by ``build_notebooks.py``)."""

SHIFTS_NOTEBOOK = [
    "md",
    """# Acquisition shifts: a random corruption test and its worst case

A noisier detector, a softer reconstruction kernel, a coil's intensity falloff: medrobust runs
such acquisition shifts as attacks whose budget is a **severity** (0 the identity, 1..5 as in
ImageNet-C, each mapped to a physical parameter by the shift's table; see `docs/shifts.md`).
Each shift runs in two modes: `random` draws its free parameters (the noise field, the sign of
a contrast change, the bias-field coefficients) and keeps the worst of `draws` draws, reporting
the mean over them too; `adversarial` starts from the same draws and then searches the
severity's range for the worst point. This notebook trains a small CNN on BreastMNIST (breast
ultrasound; synthetic images of the same shape without the file), sweeps three shifts at
severities 0..5 in both modes and shows how far the worst case lies below one random draw.""",
    "code",
    """%matplotlib inline
import os
from pathlib import Path

# Real data where MEDROBUST_DATA points to a folder with medmnist/*.npz; synthetic images otherwise.
DATA = Path(os.environ.get("MEDROBUST_DATA", "data")).expanduser() / "medmnist"
print("MedMNIST folder:", DATA, "(found)" if DATA.is_dir() else "(not found: synthetic fallback)")""",
    "code",
    """from medrobust.datasets.registry import build_dataset
from medrobust.datasets.synthetic import synthetic

if (DATA / "breastmnist.npz").is_file():
    train = build_dataset("medmnist", subset="breastmnist", root=DATA, split="train")
    test = build_dataset("medmnist", subset="breastmnist", root=DATA, split="test")
else:
    train = synthetic(546, task="binary", seed=1)
    test = synthetic(156, task="binary", seed=2)
print(test.info.name, len(test), "test images;", test.info.label_names)""",
    "md",
    "## A model to test\n\nA small CNN trained on the spot (seconds); in practice, your checkpoint wrapped once.",
    "code",
    """import torch

from medrobust import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.models.training import train_classifier

torch.manual_seed(0)
model = ModelAdapter(
    SmallCNN(in_channels=1, num_outputs=2), "binary", num_outputs=2, bounds=test.info.bounds,
    mean=0.33, std=0.2, input_shape=(1, 28, 28), name="breast-cnn",
)
train_classifier(model, train, model.head, epochs=6, seed=0);""",
    "md",
    """## Three shifts, two modes, severities 0..5

Their physical parameters per severity (the tables), then one sweep: shifts share one budget
grid (severities), so they run together; L-p attacks need a run of their own.""",
    "code",
    """from medrobust.attacks.shifts import SHIFTS

NAMES = ["noise", "contrast", "bias_field"]
for name in NAMES:
    cls = SHIFTS[name]
    print(f"{name:11s} {cls.PARAMETER} ({cls.UNITS}): {list(cls.TABLE)}")""",
    "code",
    """import medrobust

SEVERITIES = [0, 1, 2, 3, 4, 5]
attacks = []
for name in NAMES:
    attacks.append({"name": name, "mode": "random", "draws": 5})
    attacks.append({"name": name, "mode": "adversarial", "draws": 5, "steps": 5})
sample = test.subset(100, seed=0)  # a stratified 100 of the test images keeps the run short
results = medrobust.evaluate(model, sample, attacks=attacks, eps=SEVERITIES, bootstrap=0)
print(results.table())""",
    "md",
    """## The curves: one random draw against the worst case

Per shift, the **mean over the draws** (the expected accuracy under one random draw: what a
random corruption test reports), the **worst of 5 draws** and the **adversarial** search.
The space between the top and the bottom curve is what a random test does not see.""",
    "code",
    """from matplotlib.figure import Figure

fig = Figure(figsize=(11, 3.4))
axes = fig.subplots(1, len(NAMES), sharey=True)
for ax, name in zip(axes, NAMES, strict=True):
    rand, adv = results.curve(f"{name}-random"), results.curve(f"{name}-adversarial")
    ax.plot(SEVERITIES, [b.mean_accuracy for b in rand], "o-", label="mean of draws (one random draw)")
    ax.plot(SEVERITIES, [b.robust_accuracy for b in rand], "s--", label="worst of 5 draws")
    ax.plot(SEVERITIES, [b.robust_accuracy for b in adv], "v-", color="#b00020", label="adversarial")
    ax.set_title(f"{name} ({SHIFTS[name].PARAMETER})", fontsize=9)
    ax.set_xlabel("severity")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("accuracy")
axes[0].legend(fontsize=7, loc="lower left")
fig.tight_layout()
fig""",
    "code",
    """gaps = {
    name: results.curve(f"{name}-random")[-1].mean_accuracy - results.curve(f"{name}-adversarial")[-1].robust_accuracy
    for name in NAMES
}
print(f"clean accuracy {results.clean_accuracy:.3f}; at severity 5, one random draw minus the worst case:")
for name, gap in gaps.items():
    print(f"  {name:11s} {gap:+.3f}")""",
    "md",
    """## What the shifts look like

The sweep keeps a few samples' pixels at the largest severity (`results.gallery`); the
report's gallery figure shows the clean image, the shifted one (labelled *adversarial*, as
for every attack) and their amplified difference, with the predictions before and after.
First the adversarial bias field: a smooth multiplicative field, no pixel-level pattern.""",
    "code",
    """from medrobust.reports.gallery import gallery_figure


def gallery(attack):
    # clean, shifted (at severity 5) and difference images of the kept samples, with the predictions
    return gallery_figure(results.gallery, attack, results.clean, results.rows, test.info.label_names, model.bounds)


gallery("bias_field-adversarial")""",
    "md",
    """Then the worst of five random noise fields at sigma 0.10, next to the adversarial noise of the
same energy (norm): the search puts that energy where it changes the prediction, so read it as
an upper bound on what noise of that sigma can do, not as scanner noise.""",
    "code",
    'gallery("noise-random")',
    "code",
    'gallery("noise-adversarial")',
]
