"""Privacy: DICOM inputs whose headers (and folder names) carry a patient's name, ID, birth date
and UIDs leave none of them in any file of the results folder, reports included."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.results.privacy import redact_paths

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402

NAME = "Quixotevna^Brunhilde"
PATIENT_ID = "PIDX7741953Q"
BIRTH_DATE = "19310827"
ACCESSION = "ACCN55418833"
UID_ROOT = "1.2.826.0.1.3680043.8.498.77"


def _uid(kind: int, i: int) -> str:
    return f"{UID_ROOT}.{kind}.{i + 1}"


def _identifiers(n: int) -> list[str]:
    """Every identifying string of the study; none may appear in a results file."""
    tokens = [NAME, NAME.replace("^", " "), "Quixotevna", "Brunhilde", PATIENT_ID, BIRTH_DATE, ACCESSION]
    tokens += [_uid(1, 0), _uid(2, 0)] + [_uid(3, i) for i in range(n + 1)]
    tokens.append(f"{PATIENT_ID}_{NAME}")  # the folder name
    return tokens


def _write_study(root: Path, n: int) -> Path:
    """``n`` CT slices of one patient in a folder named after them (plus one damaged file), labelled by a CSV."""
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = root / f"{PATIENT_ID}_{NAME}"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = template.pixel_array.astype(np.int16)
    rows = []
    for i in range(n):
        ds = template.copy()
        ds.PatientName = NAME
        ds.PatientID = PATIENT_ID
        ds.PatientBirthDate = BIRTH_DATE
        ds.AccessionNumber = ACCESSION
        ds.PatientSex = "F" if i % 2 else "M"
        ds.PatientAge = "067Y"
        ds.StudyInstanceUID = _uid(1, 0)
        ds.SeriesInstanceUID = _uid(2, 0)
        ds.SOPInstanceUID = _uid(3, i)
        ds.file_meta.MediaStorageSOPInstanceUID = _uid(3, i)
        pixels = base + rng.integers(-40, 40, size=base.shape).astype(np.int16) + (60 if i % 2 else 0)
        ds.PixelData = pixels.astype(np.int16).tobytes()
        name = f"{_uid(3, i)}.dcm"
        ds.save_as(folder / name, enforce_file_format=True)
        rows.append({"file": f"{folder.name}/{name}", "label": i % 2, "PatientID": PATIENT_ID, "PatientName": NAME})
    # a damaged file in the patient's folder: skipped, and listed in the manifest without its path
    (folder / f"{_uid(3, n)}.dcm").write_bytes(b"not a DICOM file")
    rows.append({"file": f"{folder.name}/{_uid(3, n)}.dcm", "label": 0, "PatientID": PATIENT_ID, "PatientName": NAME})
    labels = root.parent / "labels.csv"
    with labels.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return labels


def _texts(folder: Path) -> dict[str, bytes]:
    """Every file's bytes under ``folder``, with zip archives (gallery.npz) opened member by member."""
    out: dict[str, bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        out[rel] = path.read_bytes()
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    out[f"{rel}:{member}"] = z.read(member)
    return out


def test_no_patient_identifier_reaches_any_results_file(tmp_path: Path) -> None:
    n = 12
    root = tmp_path / "study"
    labels = _write_study(root, n)
    out = tmp_path / "results"
    args = [
        "run",
        "--model",
        "smallcnn",
        "--random-init",
        "--num-classes",
        "2",
        "--data",
        "dicom",
        "-D",
        f"root={root}",
        "-D",
        f"labels={labels}",
        "-D",
        "size=28",
        "-D",
        "window=minmax",
        "-D",
        "on_error=skip",
        "--attack",
        "fgsm",
        "--attack",
        "pgd:steps=2",
        "--eps",
        "0,2/255,8/255",
        "--subgroup",
        "sex",
        "--bootstrap",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--quiet",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    files = _texts(out)
    for expected in (
        "report.html",
        "summary.json",
        "manifest.json",
        "samples.csv",
        "rows.csv",
        "gallery.npz",
        "junit.xml",
        "summary.md",
    ):
        assert expected in files, f"{expected} missing from {sorted(files)}"
    leaks = [(token, rel) for token in _identifiers(n) for rel, data in files.items() if token.encode() in data]
    assert not leaks, f"patient identifiers in the results folder: {leaks}"
    # the run did use the header (subgroups from PatientSex) and did list the damaged file
    assert "meta_sex" in files["samples.csv"].decode().splitlines()[0]
    assert b"by sex" in files["report.html"]
    manifest = json.loads(files["manifest.json"])
    assert len(manifest["data"]["skipped"]) == 1
    assert "path-" in manifest["data"]["skipped"][0]["source"]
    assert manifest["data"]["skipped"][0]["source"].endswith(".dcm")


def test_redact_paths_hashes_every_path_and_keeps_the_rest() -> None:
    text = f"names file '{PATIENT_ID}/{NAME}.dcm', which does not exist under /data/study (labels.csv row 3)"
    out = redact_paths(text)
    assert PATIENT_ID not in out and "Quixotevna" not in out and "/data/study" not in out
    assert "which does not exist under path-" in out and "labels.csv row 3" in out
    assert out == redact_paths(text)  # stable: the same path always gets the same token
    assert redact_paths("C:\\scans\\x.DCM").endswith(".dcm")
