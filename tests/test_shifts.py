"""Acquisition shifts: severity 0 is the identity, seeded, inside the bounds, 2D and 3D,
adversarial never weaker than random, and through the sweep a monotone curve."""

from __future__ import annotations

import io
from itertools import pairwise

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

import medrobust
from medrobust.attacks.budgets import parse_budgets
from medrobust.attacks.registry import available, build_attack
from medrobust.attacks.shifts import SEVERITY, SHIFTS, Shift, severity_level
from medrobust.attacks.shifts.blur import Blur, gaussian_blur
from medrobust.cli._options import attack_spec
from medrobust.datasets import synthetic
from medrobust.datasets.base import ArrayDataset
from medrobust.errors import ConfigError
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN

NAMES = sorted(SHIFTS)
COLOUR = ("hue", "saturation")
"""Shifts for RGB images only: they run on 3-channel batches and refuse grey ones."""
HU = (-1024.0, 3071.0)


def _channels(name: str) -> int:
    return 3 if name in COLOUR else 1


class Tiny(nn.Module):
    """A small conv net for 2D or 3D inputs, scaled to its bounds so logits stay moderate."""

    def __init__(self, dims: int, bounds: tuple[float, float], channels: int = 1) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        self.lo, self.span = bounds[0], bounds[1] - bounds[0]
        self.conv = conv(channels, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv((x - self.lo) / self.span))
        return self.fc(h.flatten(2).mean(dim=2))


def _model(dims: int, bounds: tuple[float, float] = (0.0, 1.0), size: int = 8, channels: int = 1) -> ModelAdapter:
    torch.manual_seed(0)
    net = Tiny(dims, bounds, channels)
    return ModelAdapter(net, make_head("binary", 2), bounds=bounds, input_shape=(channels,) + (size,) * dims)


def _batch(
    dims: int, bounds: tuple[float, float] = (0.0, 1.0), n: int = 6, size: int = 8, channels: int = 1
) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand((n, channels) + (size,) * dims, generator=g)


@pytest.mark.parametrize("name", NAMES)
def test_table_parameter_and_units(name: str) -> None:
    cls = SHIFTS[name]
    assert cls.PARAMETER and cls.UNITS
    assert len(cls.TABLE) == 6 and list(cls.TABLE) == sorted(cls.TABLE)
    shift = build_attack(name, mode="adversarial")
    assert isinstance(shift, cls) and shift.norm == SEVERITY and shift.label == f"{name}-adversarial"
    assert shift.describe()["table"] == list(cls.TABLE)
    assert name in available()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("bounds", [(0.0, 1.0), HU], ids=["unit", "hu"])
def test_identity_seed_and_bounds(name: str, dims: int, bounds: tuple[float, float]) -> None:
    c = _channels(name)
    model = _model(dims, bounds, channels=c)
    x, y = _batch(dims, bounds, channels=c), torch.tensor([0, 1, 0, 1, 0, 1])
    for mode in ("random", "adversarial"):
        shift = build_attack(name, mode=mode, draws=2, steps=2)
        assert torch.equal(shift.run(model, x, y, 0.0).x_adv, x)  # severity 0: exactly the input
        eps = torch.tensor([0.0, 1.0, 2.5, 3.0, 5.0, 7.0])  # per sample; beyond the table: its last value
        a = shift.run(model, x, y, eps, seed=5)
        b = shift.run(model, x, y, eps, seed=5)
        assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.logits, b.logits)
        assert torch.equal(a.x_adv[0], x[0])
        assert a.x_adv.shape == x.shape and torch.isfinite(a.x_adv).all()
        assert a.x_adv.min() >= bounds[0] and a.x_adv.max() <= bounds[1]
        if mode == "random":  # the adversarial range holds the identity too (a ball holds its centre)
            assert not torch.equal(a.x_adv[4], x[4])  # severity 5 changes the image


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dims", [2, 3])
def test_adversarial_never_weaker_than_random(name: str, dims: int) -> None:
    c = _channels(name)
    model = _model(dims, channels=c)
    x = _batch(dims, n=8, channels=c)
    y = model.head.predict(model.logits(x)).reshape(-1)  # every sample correct: there is something to break
    for severity in (1.0, 3.0, 5.0):
        rand = build_attack(name, mode="random", draws=3).run(model, x, y, severity, seed=2)
        adv = build_attack(name, mode="adversarial", draws=3, steps=3).run(model, x, y, severity, seed=2)
        assert torch.all(adv.success | ~rand.success), (name, severity)
        m_r, m_a = model.head.margin(rand.logits, y), model.head.margin(adv.logits, y)
        assert torch.all(adv.success | (m_a <= m_r + 1e-6)), (name, severity)
        assert torch.equal(adv.success, ~model.head.correct(adv.logits, y))


def test_severity_interpolates_the_table() -> None:
    table = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    level = severity_level(table, torch.tensor([0.0, 1.0, 2.5, 5.0, 9.0]))
    assert torch.allclose(level, torch.tensor([0.0, 0.5, 1.25, 3.0, 3.0]))


def test_blur_random_is_the_tables_gaussian() -> None:
    model = _model(2)
    x, y = _batch(2), torch.zeros(6, dtype=torch.long)
    out = Blur().run(model, x, y, 2.0).x_adv
    assert torch.allclose(out, gaussian_blur(x, torch.full((6,), Blur.TABLE[2]), radius=9).clamp(0, 1))
    flat = torch.full_like(x, 0.3)
    assert torch.allclose(Blur().run(model, flat, y, 5.0).x_adv, flat, atol=1e-6)  # a blur keeps a constant


def test_unknown_mode_and_elementwise_severity_refused() -> None:
    with pytest.raises(medrobust.errors.ConfigError, match="mode"):
        build_attack("noise", mode="worst")
    model, x = _model(2), _batch(2)
    shift: Shift = build_attack("noise")  # type: ignore[assignment]
    with pytest.raises(ValueError, match="one number per sample"):
        shift.run(model, x, torch.zeros(6, dtype=torch.long), torch.ones_like(x))


def test_cli_reads_shift_specs_and_plain_severities() -> None:
    assert attack_spec("blur:mode=adversarial,draws=3") == {"name": "blur", "mode": "adversarial", "draws": 3}
    with pytest.raises(medrobust.errors.ConfigError, match="has no parameter"):
        attack_spec("blur:sigma=2")
    assert [b.value for b in parse_budgets(["0", "1", "2", "3"])] == [0.0, 1.0, 2.0, 3.0]
    assert [b.label for b in parse_budgets(["0", "1", "2", "3"])] == ["0", "1", "2", "3"]


class Sharpness(nn.Module):
    """Class 1 when the image's high-frequency energy is above a threshold: blur and noise move it."""

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = threshold

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Mean absolute difference from the 3x3 local mean."""
        return (x - nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).abs().flatten(1).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 50 * (self.energy(x) - self.threshold)
        return torch.stack([-z, z], dim=1)


@pytest.mark.parametrize("schedule", ["ascending", "parallel"])
def test_sweep_curves_are_monotone(schedule: str) -> None:
    images = synthetic(40, task="binary", seed=99, size=16)
    net = Sharpness()
    net.threshold = float(net.energy(images.images).median())
    head = make_head("binary", 2)
    labels = head.predict(net(images.images)).reshape(-1).numpy()  # every clean prediction correct
    data = ArrayDataset(images.images, labels, images.info)
    model = ModelAdapter(net, head, bounds=(0.0, 1.0), input_shape=(1, 16, 16))
    attacks = [
        {"name": "noise", "mode": "random", "draws": 2},
        {"name": "blur", "mode": "adversarial", "steps": 2},
        {"name": "bias_field", "mode": "adversarial", "draws": 2, "steps": 2},
        {"name": "downsample", "mode": "adversarial", "draws": 1},
        {"name": "motion", "mode": "adversarial", "draws": 2, "steps": 2},
        {"name": "ghosting", "mode": "random", "draws": 2},
        {"name": "spike", "mode": "adversarial", "draws": 2, "steps": 2},
        {"name": "jpeg", "mode": "adversarial", "draws": 1},
    ]
    res = medrobust.evaluate(model, data, attacks, [0, 1, 2, 3, 5], bootstrap=0, schedule=schedule)
    assert res.clean_accuracy == 1.0
    labels = [f"{a['name']}-{a['mode']}" for a in attacks]
    for label in labels:
        accs = [b["robust_accuracy"] for b in res.curve(label)]
        assert accs[0] == pytest.approx(res.clean_accuracy)
        assert all(a >= b for a, b in pairwise(accs)), (label, accs)
        per_sample = res.rows[res.rows["attack"] == label].pivot(index="sample", columns="eps", values="correct")
        assert (per_sample.astype(int).diff(axis=1).fillna(0) <= 0).all().all()  # once broken, always broken
    for label in ("noise-random", "blur-adversarial", "downsample-adversarial", "spike-adversarial"):
        assert res.metric(label, 5) < 1.0, label  # each moves the high-frequency energy across the threshold
    assert not [w for w in res.warnings if w.code == "attack-weaker-than-another"]
    assert all(b["label_255"] == "" for b in res.curve("blur-adversarial"))  # a severity is no k/255


def test_shifts_and_lp_attacks_do_not_share_one_budget_grid() -> None:
    data = synthetic(8, task="binary")
    model = ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2)
    with pytest.raises(ConfigError, match="one run has one budget grid"):
        medrobust.evaluate(model, data, ["pgd", "blur"], [0, 1], bootstrap=0)


@pytest.mark.parametrize("name", COLOUR)
def test_colour_shifts_refuse_grey_images(name: str) -> None:
    model, x = _model(2), _batch(2)
    with pytest.raises(ValueError, match="RGB"):
        build_attack(name).run(model, x, torch.zeros(6, dtype=torch.long), 3.0)


def test_colour_shifts_match_torchvision() -> None:
    x = _batch(2, channels=3, size=9)
    ones = torch.ones(6, 1)
    hue = SHIFTS["hue"]().apply(x, -ones, torch.full((6,), 20.0), (0.0, 1.0))
    assert torch.allclose(hue, TF.adjust_hue(x, -20 / 360), atol=1e-5)
    sat = SHIFTS["saturation"]().apply(x, ones, torch.full((6,), 0.4), (0.0, 1.0))
    assert torch.allclose(sat, TF.adjust_saturation(x, 1.4), atol=1e-5)
    assert not torch.allclose(hue, x, atol=1e-2) and not torch.allclose(sat, x, atol=1e-2)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_is_pillows_codec_at_the_tables_quality(channels: int) -> None:
    model = _model(2, HU, size=16, channels=channels)
    x = _batch(2, HU, size=16, channels=channels)
    out = build_attack("jpeg").run(model, x, torch.zeros(6, dtype=torch.long), 3.0).x_adv  # quality 40
    lo, hi = HU
    u8 = ((x - lo) / (hi - lo) * 255).round().to(torch.uint8).numpy()
    for img, got in zip(u8, out, strict=True):
        pixels = img.transpose(1, 2, 0) if channels == 3 else img[0]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=40)
        ref = np.asarray(Image.open(buffer)).astype(np.float32)
        ref = ref.transpose(2, 0, 1) if channels == 3 else ref[None]
        assert torch.allclose(got, lo + (hi - lo) * torch.from_numpy(ref) / 255, atol=1e-2)
    assert (out - x).abs().max() > 1.0  # a lossy codec at quality 40 changes the image
