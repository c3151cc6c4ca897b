"""CSV cells that would start a spreadsheet formula are written safely (issue 11, item 7)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
import torch

import medrobust
from medrobust.datasets.base import ArrayDataset, DataInfo
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.results.atomic import write_csv

EVIL = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "ok"]


def test_write_csv_defuses_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"site": EVIL, "=col": range(len(EVIL)), "score": [-0.5] * len(EVIL)})
    write_csv(tmp_path / "x.csv", frame)
    with (tmp_path / "x.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["site", "'=col", "score"]
    assert [r[0] for r in rows[1:]] == ["'" + v for v in EVIL[:-1]] + ["ok"]
    assert all(r[2] == "-0.5" for r in rows[1:])  # numbers stay numbers


def test_metadata_formulas_never_reach_a_results_csv(tmp_path: Path) -> None:
    n = len(EVIL)
    info = DataInfo("evil", "binary", ("no", "yes"))
    data = ArrayDataset(torch.rand(n, 1, 28, 28), torch.tensor([0, 1] * (n // 2)), info, meta={"site": EVIL})
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2)
    medrobust.evaluate(model, data, ["fgsm"], [0, "2/255"], bootstrap=0, out_dir=tmp_path, subgroups=["site"])
    for path in tmp_path.glob("*.csv"):
        with path.open(newline="") as f:
            cells = [c for row in csv.reader(f) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t")], path.name


@pytest.mark.parametrize("value", ["=1+1", "@x"])
def test_plain_text_is_left_alone(tmp_path: Path, value: str) -> None:
    write_csv(tmp_path / "y.csv", pd.DataFrame({"a": ["plain", value]}))
    assert (tmp_path / "y.csv").read_text().splitlines() == ["a", "plain", "'" + value]
