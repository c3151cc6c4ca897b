"""Messages a newcomer meets: a capped ``n``, CLI spellings in data errors, an unknown attack in a thresholds file."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

import medrobust
from medrobust.datasets.medmnist import medmnist
from medrobust.datasets.synthetic import synthetic
from medrobust.errors import DataError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN
from medrobust.reports.junit import Thresholds, render_junit
from medrobust.results.results import Results


@pytest.fixture(scope="module")
def tiny_run() -> Results:
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2, input_shape=(1, 28, 28), name="tiny")
    return medrobust.evaluate(model, synthetic(8, seed=1), ["fgsm"], [0, "1/255"], bootstrap=0)


def test_an_n_larger_than_the_data_is_a_warning_naming_both(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2, input_shape=(1, 28, 28))
    with caplog.at_level(logging.WARNING):
        results = medrobust.evaluate(model, synthetic(6, seed=1), ["fgsm"], [0], n=50, bootstrap=0)
    assert results.summary.n == 6
    assert "has 6 samples, fewer than n=50" in caplog.text


def test_a_missing_medmnist_file_names_the_cli_and_python_spellings(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"-D download=true \(download=True in Python\)"):
        medmnist("breastmnist", root=tmp_path)


def test_an_unknown_attack_in_a_thresholds_file_is_named_as_such(tiny_run: Results) -> None:
    limits = Thresholds.from_mapping({"thresholds": {"pgd-linf": {"1/255": 0.5}, "fgsm": {"2/255": 0.5}}})
    root = ET.fromstring(render_junit(tiny_run, limits).split("\n", 1)[1])
    failures = {}
    for case in root.iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            failures[case.get("name")] = failure.get("message")
    assert failures["pgd-linf at 1/255"] == "attack pgd-linf is not in the results (has: fgsm-linf)"
    assert failures["fgsm-linf at 2/255"] == "threshold 0.5 set but budget 2/255 was not evaluated"
