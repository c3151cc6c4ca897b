"""Privacy for every data kind ``medrobust run`` reads: identifiers in headers, labels CSVs, file and
folder names never reach any file of the results folder (gallery members and resume parts included)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import urllib.parse
import zipfile
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from conftest import require_data
from PIL import Image

from medrobust.cli.commands import main
from medrobust.models.small_cnn import SmallCNN
from medrobust.results.privacy import path_token, private_skipped, redact_paths

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402

NAME = "Doevski^Janetta"
DOB = "1970-01-01"
MRN = "MRN 12345678"
EMAIL = "j.doevski@example.org"
NHS = "943 476 5919"
PATIENT_ID = "PID7741953"
ACCESSION = "ACC55418833"
INSTITUTION = "Quixote General Infirmary"
PHYSICIAN = "Strangelove^Hieronymus"
ADDRESS = "12 Wobbly Lane, Nether Quixby"
UID_ROOT = "1.2.826.0.1.3680043.8.498.4242"
PERSON = f"{NAME}_{DOB}"  # a folder named after the patient
CSV_IDENTIFIERS = {  # identifier columns of a labels CSV, each holding an identifier
    "dob": DOB,
    "email": EMAIL,
    "nhs_number": NHS,
    "MedicalRecordNumber": MRN,
    "PatientName": NAME,
    "PatientID": PATIENT_ID,
    "AccessionNumber": ACCESSION,
}
CLINICAL_BUT_IDENTIFYING = {"site": EMAIL, "scanner": MRN}  # allowed columns holding identifier-like values


def _uid(*parts: int) -> str:
    return ".".join([UID_ROOT, *map(str, parts)])


def _tokens() -> set[str]:
    """Every identifier and its common transforms (lower and upper case, ``^`` as a space, name order, URL-quoted)."""
    base = [NAME, "Doevski", "Janetta", "Janetta Doevski", DOB, DOB.replace("-", ""), MRN, "12345678", EMAIL]
    base += [NHS, NHS.replace(" ", ""), PATIENT_ID, ACCESSION, INSTITUTION, PHYSICIAN, "Strangelove", "Hieronymus"]
    base += [ADDRESS, "Wobbly Lane", UID_ROOT, PERSON]
    out: set[str] = set()
    for token in base:
        for t in (token, token.replace("^", " "), token.replace(" ", "_")):
            out |= {t, t.lower(), t.upper(), urllib.parse.quote(t)}
    return out


TOKENS = _tokens()


def _write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(key: str, value: str, label: int, i: int) -> dict[str, object]:
    """A labels-CSV row: the key, the label, identifier columns, clinical columns holding identifiers, sex."""
    return {key: value, "label": label, **CSV_IDENTIFIERS, **CLINICAL_BUT_IDENTIFYING, "sex": "FM"[i % 2]}


def _png(path: Path, i: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(i)
    Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), mode="L").save(path)


# --- one builder per data kind: the folders and files, and the `medrobust run` arguments that read them ---


def _data(kind: str, *flags: str, **options: object) -> list[str]:
    """``--data KIND -D key=value ... FLAGS``."""
    return ["--data", kind, *(x for key, value in options.items() for x in ("-D", f"{key}={value}")), *flags]


def _folder_classes(base: Path) -> list[str]:
    root = base / PERSON / MRN
    for cls in ("benign", "malignant"):
        for i in range(3):
            _png(root / cls / f"{NAME} {DOB}" / f"{NAME}_{i} {EMAIL}.png", i + 7 * (cls == "benign"))
    (root / "benign" / f"{NAME} {DOB}" / f"notes {NAME} {MRN}.png").write_text(f"{NAME} {MRN}")  # not an image
    return _data("folder", root=root, on_error="skip")


def _folder_csv(base: Path) -> list[str]:
    root = base / PERSON / "images"
    rows = []
    for i in range(6):
        rel = f"{NAME} {MRN}/{EMAIL}_{i}.png"
        _png(root / rel, i)
        rows.append(_row("file", rel, i % 2, i))
    rows.append(_row("file", f"{NAME} {MRN}/missing {EMAIL}.png", 0, 0))  # names no file: skipped
    labels = _write_csv(base / f"{NAME} {MRN} labels.csv", rows)
    weights = base / f"{NAME} {DOB} weights.pt"
    torch.manual_seed(0)
    torch.save(SmallCNN(1, 2).state_dict(), weights)
    return _data("folder", "--weights", str(weights), root=root, labels=labels, on_error="skip")


def _dicom_study(root: Path, series: int, slices: int) -> list[Path]:
    """CT slices of one patient in folders and files named after them; every identifying header set."""
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    base = template.pixel_array.astype(np.int16)
    rng = np.random.default_rng(0)
    paths = []
    for s in range(series):
        for k in range(slices):
            ds = template.copy()
            ds.PatientName = NAME
            ds.PatientID = PATIENT_ID
            ds.PatientBirthDate = DOB.replace("-", "")
            ds.PatientAddress = ADDRESS
            ds.OtherPatientIDs = MRN
            ds.PatientTelephoneNumbers = NHS
            ds.AccessionNumber = ACCESSION
            ds.InstitutionName = INSTITUTION
            ds.InstitutionAddress = ADDRESS
            ds.ReferringPhysicianName = PHYSICIAN
            ds.OperatorsName = PHYSICIAN
            ds.StudyDescription = f"{NAME} {DOB}"
            ds.SeriesDescription = f"{EMAIL} {MRN}"
            ds.StudyDate = DOB.replace("-", "")
            ds.Manufacturer = MRN  # a clinical header holding an identifier: becomes unknown
            ds.BodyPartExamined = DOB.replace("-", "")
            ds.PatientSex = "FM"[s % 2]
            ds.PatientAge = "054Y"
            ds.StudyInstanceUID = _uid(1)
            ds.SeriesInstanceUID = _uid(2, s)
            ds.SOPInstanceUID = _uid(3, s, k)
            ds.FrameOfReferenceUID = _uid(4)
            ds.file_meta.MediaStorageSOPInstanceUID = _uid(3, s, k)
            ds.ImagePositionPatient = [0.0, 0.0, float(k)]
            ds.InstanceNumber = k + 1
            pixels = base + rng.integers(-40, 40, size=base.shape).astype(np.int16) + (80 if s % 2 else 0)
            ds.PixelData = pixels.astype(np.int16).tobytes()
            path = root / f"{PATIENT_ID} {NAME}" / f"{MRN} series {s}" / f"{NAME} {DOB} {k}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def _dicom_files(base: Path) -> list[str]:
    root = base / PERSON / MRN
    paths = _dicom_study(root, series=6, slices=1)
    rows = [_row("file", p.relative_to(root).as_posix(), i % 2, i) for i, p in enumerate(paths)]
    damaged = root / f"{PATIENT_ID} {NAME}" / f"{NAME} {EMAIL} damaged.dcm"
    damaged.write_bytes(b"not a DICOM file " + NAME.encode())
    rows.append(_row("file", damaged.relative_to(root).as_posix(), 0, 0))
    labels = _write_csv(base / f"{NAME} {MRN}.csv", rows)
    return _data("dicom", "--subgroup", "sex", root=root, labels=labels, size=28, window="minmax", on_error="skip")


def _dicom_series(base: Path) -> list[str]:
    root = base / PERSON / MRN
    _dicom_study(root, series=4, slices=2)
    rows = [_row("SeriesInstanceUID", _uid(2, s), s % 2, s) for s in range(4)]
    rows.append(_row("SeriesInstanceUID", _uid(2, 99), 0, 0))  # a series no file has: skipped, UID hashed
    labels = _write_csv(base / f"{NAME} {MRN} series.csv", rows)
    return _data("dicom", "--spatial-dims", "3", root=root, labels=labels, size="[4,16,16]", on_error="skip")


def _nifti(base: Path) -> list[str]:
    root = base / PERSON / MRN
    rows = []
    for i in range(6):
        img = nib.Nifti1Image(np.random.default_rng(i).random((8, 8, 8)).astype(np.float32), np.eye(4))
        img.header["descrip"] = f"{NAME} {DOB}".encode()
        img.header["db_name"] = MRN.encode()
        img.header["aux_file"] = EMAIL.encode()
        img.header["intent_name"] = b"Doevski^Janetta"
        rel = f"{NAME} {EMAIL}/{NAME}_{i} {MRN}.nii.gz"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        nib.save(img, root / rel)
        rows.append(_row("file", rel, i % 2, i))
    (root / f"{NAME} {EMAIL}" / f"{NAME} broken.nii.gz").write_bytes(b"not a NIfTI file")
    rows.append(_row("file", f"{NAME} {EMAIL}/{NAME} broken.nii.gz", 1, 1))
    labels = _write_csv(base / f"{NAME} {MRN} volumes.csv", rows)
    return _data("nifti", "--spatial-dims", "3", root=root, labels=labels, on_error="skip")


def _medmnist(base: Path) -> list[str]:
    source = require_data("medmnist", "breastmnist.npz")
    root = base / PERSON / MRN
    root.mkdir(parents=True)
    shutil.copy(source, root / source.name)
    return _data("medmnist", "--n", "8", subset="breastmnist", root=root)


def _synthetic(base: Path) -> list[str]:
    config = base / f"{NAME} {MRN} run.yaml"
    config.write_text("data: {kind: synthetic, n: 8}\nmodel: {kind: smallcnn, num_classes: 2, random_init: true}\n")
    return ["-c", str(config), "--subgroup", "site"]


KINDS: dict[str, Callable[[Path], list[str]]] = {
    "folder-classes": _folder_classes,
    "folder-csv": _folder_csv,
    "dicom-files": _dicom_files,
    "dicom-series": _dicom_series,
    "nifti": _nifti,
    "medmnist": _medmnist,
    "synthetic": _synthetic,
}
SKIPPED = {"folder-classes": 1, "folder-csv": 1, "dicom-files": 1, "dicom-series": 1, "nifti": 1}
"""Bad inputs each kind's data holds (a damaged file, a row naming no file or series): listed, hashed."""


# --- reading every file of a results folder ---


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as bytes, plus what each archive and table holds, decoded."""
    out: dict[str, bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        out[rel] = path.read_bytes()
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    out[f"{rel}:{member}"] = z.read(member)
                    out[f"{rel}:{member}:name"] = member.encode()
            with np.load(path, allow_pickle=False) as arrays:
                for key in arrays.files:
                    array = arrays[key]
                    if array.dtype.kind in "US":
                        out[f"{rel}:{key}:strings"] = "\n".join(map(str, array.ravel().tolist())).encode()
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            out[f"{rel}:metadata"] = b"\n".join(k + b"=" + v for k, v in meta.items())
            text = io.StringIO()
            table.to_pandas().to_csv(text)
            out[f"{rel}:table"] = text.getvalue().encode()
    return out


def _leaks(files: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(token, name) for name, data in files.items() for token in sorted(TOKENS) if token.encode() in data]


@pytest.mark.parametrize("kind", list(KINDS))
def test_no_identifier_of_any_data_kind_reaches_the_results(tmp_path: Path, kind: str) -> None:
    base = tmp_path / f"{NAME} {MRN}"
    base.mkdir()
    args = ["run", *KINDS[kind](base)]
    out = base / PERSON / f"{MRN} results"
    if "-c" not in args:
        args += ["--model", "smallcnn", "--num-classes", "2", *([] if "--weights" in args else ["--random-init"])]
    args += ["--attack", "fgsm", "--eps", "0,2/255", "--bootstrap", "0", "--device", "cpu", "--batch-size", "8"]
    args += ["--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    files = _contents(out)
    for name in ("report.html", "summary.json", "manifest.json", "samples.csv", "rows.csv", "summary.md"):
        assert name in files, f"{name} missing from {sorted(files)}"
    assert "gallery.npz" in files and "junit.xml" in files and "summary.csv" in files
    leaks = _leaks(files)
    assert not leaks, f"identifiers in the results folder of {kind}: {leaks}"
    # the run did read what it was given: the bad inputs are listed (hashed) and sex reached the metadata
    skipped = json.loads(files["manifest.json"])["data"]["skipped"]
    assert len(skipped) == SKIPPED.get(kind, 0), skipped
    assert all(entry["source"].startswith("path-") for entry in skipped), skipped
    header = files["samples.csv"].decode().splitlines()[0].split(",")
    assert ("meta_sex" in header) == (kind not in ("folder-classes", "medmnist")), header
    dropped = {*CSV_IDENTIFIERS, "scanner"} | ({"site"} if kind != "synthetic" else set())
    assert not {c.removeprefix("meta_") for c in header} & dropped, header


def test_paths_with_spaces_are_hashed_whole() -> None:
    """A folder or file name with spaces leaves no word behind: quoted paths and sources are hashed whole."""
    folder = f"/data/{NAME} {MRN}/{EMAIL} scans"
    entry = {
        "source": f"{folder}/{NAME} {DOB}.png",
        "problem": f"cannot identify image file '{folder}/{NAME} {DOB}.png'",
    }
    row = {"source": f"{folder}/labels {NAME}.csv row 3", "problem": f"names file '{NAME} x.png', under {folder!r}"}
    series = {"source": f"the series of {folder}/l.csv row 2", "problem": f"names a UID no file under {folder!r} has"}
    out = private_skipped([entry, row, series])
    assert not _leaks({"skipped": json.dumps(out).encode()}), out
    assert out[0]["source"].startswith("path-") and out[0]["source"] in out[0]["problem"]
    assert out[1]["source"].endswith(".csv row 3") and "names file 'path-" in out[1]["problem"]
    assert out[2]["source"].startswith("the series of path-") and out[2]["source"].endswith(" row 2")
    assert redact_paths("label 'benign' of 'a.png'") == f"label 'benign' of '{path_token('a.png')}'"
