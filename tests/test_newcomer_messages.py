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


def test_a_bad_flag_is_reported_as_the_flag_not_as_the_config_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from medrobust.cli.commands import main

    cfg = tmp_path / "run.yaml"
    cfg.write_text("data: {kind: synthetic, n: 8}\nmodel: {kind: smallcnn, num_classes: 2}\n")
    args = ["run", "-c", str(cfg), "--random-init", "--out", str(tmp_path / "out"), "--quiet"]
    flag_only = CliRunner().invoke(main, [*args, "--eps", "abc"])
    assert flag_only.exit_code == 2
    assert "--eps: budget 'abc' is not a number" in flag_only.output
    assert "run.yaml" not in flag_only.output and "Value error" not in flag_only.output
    cfg.write_text(cfg.read_text() + "seed: abc\n")
    both = CliRunner().invoke(main, [*args, "--eps", "abc"])
    assert both.exit_code == 2
    assert "run.yaml: invalid configuration:" in both.output  # the file's own error still names the file
    assert "--eps: budget 'abc'" in both.output and "seed: Input should be a valid integer" in both.output


def test_a_third_party_warning_that_is_logged_and_warned_appears_once() -> None:
    import subprocess
    import sys

    code = (
        "from medrobust.cli.logs import configure_logging; import logging; configure_logging(logging.WARNING)\n"
        "from pydicom.misc import warn_and_log\n"
        "for _ in range(3): warn_and_log('Invalid value for VR UI: 1.2.x')\n"
        "warn_and_log('another problem')\n"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert err.count("Invalid value for VR UI") == 1, err  # pydicom logs it and warns it, three times
    assert err.count("another problem") == 1, err
    assert "warn_and_log(" not in err  # no source line of the warning's caller
