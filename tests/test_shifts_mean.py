"""A shift's random mode reports the mean over its draws (the accuracy under one draw) next to the worst.

Per sample the fraction of the ``k`` draws the model got right, ``correct_fraction``; through the
sweep a row column and the summary's ``mean_accuracy`` per budget, shown in summary.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import Spread

import medrobust
from medrobust.attacks.base import make_generator
from medrobust.attacks.registry import build_attack
from medrobust.datasets import synthetic
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.reports.markdown import render_markdown


def test_correct_fraction_is_the_share_of_draws_that_kept_the_label() -> None:
    g = torch.Generator().manual_seed(3)
    x = (0.3 + 0.4 * torch.rand(1, 1, 8, 8, generator=g)).repeat(16, 1, 1, 1)  # one image, so one threshold
    model = ModelAdapter(Spread(float(x[0].std())), make_head("binary", 2), bounds=(0.0, 1.0), input_shape=(1, 8, 8))
    y = torch.ones(16, dtype=torch.long)  # right exactly when a draw raises the contrast (sign +1)
    k = 5
    out = build_attack("contrast", mode="random", draws=k).run(model, x, y, 3.0, seed=7)
    gen = make_generator(torch.device("cpu"), 7)
    ups = torch.stack([torch.randint(0, 2, (16, 1), generator=gen)[:, 0] for _ in range(k)])  # the draws' signs
    expected = ups.float().mean(dim=0)
    assert out.correct_fraction is not None
    assert torch.equal(out.correct_fraction, expected)
    assert 0 < float(expected.mean()) < 1  # the draws disagree: worst and mean differ
    assert torch.equal(out.success, expected < 1)  # the worst of k breaks a sample unless every draw kept it
    assert build_attack("contrast", mode="adversarial").run(model, x, y, 3.0).correct_fraction is None


@pytest.mark.parametrize("schedule", ["ascending", "parallel"])
def test_sweep_reports_mean_accuracy_of_the_random_mode(schedule: str, tmp_path: Path) -> None:
    images = synthetic(24, task="binary", seed=5, size=12)
    net = Spread(0.0)
    net.threshold = float(images.images.flatten(1).std(dim=1).median())
    head = make_head("binary", 2)
    model = ModelAdapter(net, head, bounds=(0.0, 1.0), input_shape=(1, 12, 12))
    attacks = [{"name": "contrast", "mode": "random", "draws": 4}, {"name": "contrast", "mode": "adversarial"}]
    res = medrobust.evaluate(model, images, attacks, [0, 1, 3, 5], bootstrap=0, schedule=schedule)
    rows = res.rows[res.rows["attack"] == "contrast-random"]
    assert rows["correct_fraction"].notna().all() and len(rows) == 4 * 24  # every sample at every severity
    assert res.rows[res.rows["attack"] == "contrast-adversarial"]["correct_fraction"].isna().all()
    points = res.curve("contrast-random")
    assert points[0]["mean_accuracy"] == pytest.approx(res.clean_accuracy)
    means = [p["mean_accuracy"] for p in points]
    for p, (_, g) in zip(points, rows.groupby("eps", sort=True), strict=True):
        assert p["mean_accuracy"] == pytest.approx(float(g["correct_fraction"].mean()))
        assert p["mean_accuracy"] >= p["robust_accuracy"] - 1e-12  # a robust sample kept every draw
    assert means[-1] < means[0] and means[-1] > points[-1]["robust_accuracy"]  # one draw hurts less than k
    assert "mean_accuracy" not in res.curve("contrast-adversarial")[-1]
    md = render_markdown(res)
    assert "mean of draws" in md and f"| {means[-1]:.3f} |" in md
    res.save(tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["attacks"]["contrast-random"]["budgets"][-1]["mean_accuracy"] == pytest.approx(means[-1])
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(__file__).resolve().parents[1] / "medrobust" / "results" / "summary.schema.json"
    jsonschema.validate(summary, json.loads(schema_path.read_text()), cls=jsonschema.Draft202012Validator)
