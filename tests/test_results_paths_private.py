"""Paths and names never reach a results file: a data root, a labels file and a weights file
named after the patient leave no trace in the manifest, the report or the Markdown (issue 11, item 3)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.models.small_cnn import SmallCNN
from medrobust.results.privacy import private_config, redact_paths

pytest.importorskip("pydicom")
from test_report_privacy import NAME, PATIENT_ID, _texts, _write_study

WHO = "Quixotevna"


def test_bare_file_names_and_path_keys_are_hashed() -> None:
    assert WHO not in redact_paths(f"cannot read {WHO}_scan.dcm: not a DICOM file")
    cfg = private_config({"data": {"root": WHO, "labels": f"{WHO}.csv", "kind": "dicom"}, "model": {"name": "x"}})
    assert WHO not in str(cfg) and cfg["data"]["kind"] == "dicom" and cfg["model"]["name"] == "x"


def test_a_study_named_after_the_patient_leaves_no_name_in_the_results(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = tmp_path / f"{WHO}_{PATIENT_ID}"
    labels = _write_study(base / f"{WHO}_study", 8)
    named_labels = labels.with_name(f"{WHO}_labels.csv")
    labels.rename(named_labels)
    weights = tmp_path / f"{WHO}_weights.pt"
    torch.manual_seed(0)
    torch.save(SmallCNN(1, 2).state_dict(), weights)
    out = tmp_path / "results"
    args = ["run", "--model", "smallcnn", "--num-classes", "2", "--weights", str(weights), "--data", "dicom"]
    args += ["-D", f"root={base / f'{WHO}_study'}", "-D", f"labels={named_labels}", "-D", "size=28"]
    args += ["-D", "window=minmax", "-D", "on_error=skip", "--attack", "fgsm", "--eps", "0,2/255"]
    args += ["--bootstrap", "0", "--device", "cpu", "--out", str(out), "--quiet"]
    with caplog.at_level(logging.INFO):
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    leaks = {
        name: token for name, data in _texts(out).items() for token in (WHO, PATIENT_ID, NAME) if token.encode() in data
    }
    assert leaks == {}
