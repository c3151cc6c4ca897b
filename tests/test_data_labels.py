"""Labels CSVs, intensity windows, resizing and the bad-file policy shared by the file readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medrobust.datasets.csv_labels import label_spec, looks_identifying, read_labels
from medrobust.datasets.policy import BadFiles, scrub
from medrobust.datasets.transforms import linear_window, parse_intensity, resize
from medrobust.errors import ConfigError, DataError
from medrobust.heads import HeadKind


def test_label_spec_inference_and_declarations() -> None:
    assert label_spec(["0", "1", "1"], label_columns=["label"]) == label_spec(
        [], label_columns=["label"], label_names=["0", "1"]
    )
    assert label_spec(["0", "1", "1"], label_columns=["label"]).task == HeadKind.BINARY
    assert label_spec(["2", "0"], label_columns=["label"]).names == ("0", "1", "2")
    assert label_spec(["b", "a"], label_columns=["label"]).names == ("a", "b")
    multi = label_spec([], label_columns=["x", "y"])
    assert multi.task == HeadKind.MULTILABEL and multi.names == ("x", "y")
    with pytest.raises(ConfigError, match="exactly 2"):
        label_spec(["0", "1", "2"], label_columns=["label"], task="binary")
    spec = label_spec([], label_columns=["label"], label_names=["normal", "pneumonia"])
    assert int(spec.parse(["pneumonia"])) == 1 and int(spec.parse(["0"])) == 0
    assert "outside the declared classes" in str(spec.parse(["2"]))
    assert "not one of the declared classes" in str(spec.parse(["covid"]))
    assert "has no label" in str(spec.parse([""]))
    assert "0 or 1" in str(multi.parse(["1", "2"]))


@pytest.mark.parametrize(
    "column",
    [
        "PatientID",
        "patient_name",
        "PatientBirthDate",
        "SOPInstanceUID",
        "accession",
        "id",
        "subject_id",
        "StudyDate",
        "file",
    ],
)
def test_identifier_columns(column: str) -> None:
    assert looks_identifying(column)


@pytest.mark.parametrize("column", ["sex", "age_band", "site", "scanner", "Manufacturer", "fluid", "grid"])
def test_subgroup_columns(column: str) -> None:
    assert not looks_identifying(column)


def test_read_labels_errors(tmp_path: Path) -> None:
    bad = BadFiles("raise")
    with pytest.raises(DataError, match="labels CSV not found"):
        read_labels(tmp_path / "none.csv", keys=("file",), bad=bad)
    (tmp_path / "a.csv").write_text("image,label\nx.png,0\n")
    with pytest.raises(DataError, match="needs a column naming each sample"):
        read_labels(tmp_path / "a.csv", keys=("file",), bad=bad)
    (tmp_path / "b.csv").write_text("file,y\nx.png,0\n")
    with pytest.raises(DataError, match="no 'label' column"):
        read_labels(tmp_path / "b.csv", keys=("file",), bad=bad)
    (tmp_path / "c.csv").write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        read_labels(tmp_path / "c.csv", keys=("file",), bad=bad)
    (tmp_path / "d.csv").write_text("File, label ,Site\nx.png,1,A\n,0,B\n")
    skip = BadFiles("skip")
    table = read_labels(tmp_path / "d.csv", keys=("file",), bad=skip, label_names=["a", "b"])
    assert table.key_column == "File" and len(table.rows) == 1 and table.rows[0].meta == {"Site": "A"}
    assert skip.skipped == [{"source": f"{tmp_path / 'd.csv'} row 3", "problem": "the 'File' cell is empty"}]


def test_windows_follow_the_dicom_linear_function() -> None:
    x = np.array([-2000.0, -1350.5, -600.0, 149.5, 3000.0])
    np.testing.assert_allclose(linear_window(x, -600, 1500), [0.0, 0.0, (0.5 / 1499) + 0.5, 1.0, 1.0], atol=1e-12)
    lung = parse_intensity("lung")
    assert (lung.center, lung.width, lung.bounds) == (-600.0, 1500.0, (0.0, 1.0))
    assert parse_intensity("40,400") == parse_intensity([40, 400])
    assert parse_intensity("raw").bounds == (-1024.0, 3071.0)
    assert parse_intensity("raw", [-1000, 1000]).apply(np.array([-5000.0, 5000.0])).tolist() == [-1000.0, 1000.0]
    for bad in ("lungs", [40], [40, 0.5]):
        with pytest.raises(ConfigError):
            parse_intensity(bad)
    with pytest.raises(ConfigError, match="low < high"):
        parse_intensity("raw", [5, 5])


def test_resize_keeps_bounds_and_shape() -> None:
    image = torch.rand(1, 40, 40)
    small = resize(image, 16)
    assert (
        small.shape == (1, 16, 16)
        and float(small.min()) >= float(image.min())
        and float(small.max()) <= float(image.max())
    )
    assert resize(torch.rand(2, 8, 8, 8), [4, 6, 10]).shape == (2, 4, 6, 10)
    assert resize(image, None) is image
    with pytest.raises(ConfigError, match="does not fit"):
        resize(image, [4, 4, 4])


def test_scrub_hashes_uids_only() -> None:
    text = "l.csv row 3: file 1.2.840.113619.2.55.3.604688119 missing; label 1.5 bad"
    out = scrub(text)
    assert "1.2.840" not in out and "uid-" in out and "label 1.5 bad" in out
    assert scrub("plain/path/img.dcm") == "plain/path/img.dcm"
