"""Labels-CSV metadata by allow-list: identifying columns and values never reach a dataset's metadata."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medrobust.datasets.csv_labels import read_labels
from medrobust.datasets.folder import folder
from medrobust.datasets.policy import BadFiles
from medrobust.errors import ConfigError, DataError

# every kind of identifying column the old deny-list missed (plus Annex E names), with identifying values
IDENTIFYING = {
    "dob": "1970-01-31",
    "DOB": "31/01/1970",
    "email": "jane.quixote@example.org",
    "e-mail": "j.q@hospital.nhs.uk",
    "postcode": "SW1A 1AA",
    "zip": "90210",
    "nhs_number": "943 476 5919",
    "MedicalRecordNumber": "MRN12345678",
    "hospital_number": "H7654321",
    "patient_birth_date": "19700131",
    "accession number": "ACC55418833",
    "visit": "12 Mar 2021",
}
CLINICAL = {
    "sex": "F",
    "Age-Group": "60-69",
    "Site": "A",
    "scanner": "Aquilion",
    "Manufacturer": "GE MEDICAL SYSTEMS",
    "body part": "CHEST",
    "Modality": "DX",
    "view": "PA",
}


def _images(root: Path, n: int) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8), mode="L").save(root / f"{i}.png")
        names.append(f"{i}.png")
    return names


def _csv(path: Path, columns: dict[str, str], files: list[str]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", *columns])
        for i, name in enumerate(files):
            writer.writerow([name, i % 2, *columns.values()])
    return path


def test_identifying_columns_and_values_never_reach_metadata(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = _images(tmp_path / "img", 4)
    labels = _csv(tmp_path / "l.csv", {**IDENTIFYING, **CLINICAL}, files)
    with caplog.at_level(logging.INFO, logger="medrobust"):
        data = folder(tmp_path / "img", labels=labels, label_names=["a", "b"])
    everything = repr(data.meta) + repr([data[i][2] for i in range(len(data))]) + repr(data.info)
    leaked = [v for v in IDENTIFYING.values() if v in everything]
    assert not leaked, f"identifying values in the metadata: {leaked}"
    assert data[0][2] == CLINICAL  # the known clinical columns pass through, names as the CSV spells them
    dropped = [r for r in caplog.records if "not kept as metadata" in r.getMessage()]
    assert len(dropped) == 1 and all(c in dropped[0].getMessage() for c in IDENTIFYING)
    assert not any(v in r.getMessage() for r in caplog.records for v in IDENTIFYING.values())


@pytest.mark.parametrize("column", list(IDENTIFYING))
def test_declared_identifying_columns_are_refused(tmp_path: Path, column: str) -> None:
    labels = _csv(tmp_path / "l.csv", {column: IDENTIFYING[column]}, ["0.png"])
    with pytest.raises((ConfigError, DataError)) as info:
        read_labels(labels, keys=("file",), bad=BadFiles(), label_names=["a", "b"], meta_columns=[column])
    message = str(info.value)
    assert str(labels) in message and repr(column) in message and IDENTIFYING[column] not in message


@pytest.mark.parametrize(
    "value",
    ["2021-03-04", "04/03/2021", "4.3.21", "Mar 4, 2021", "a.b@c.org", "943 476 5919", "1234567", "MRN12345678"],
)
def test_declared_column_with_identifier_like_values_is_refused(tmp_path: Path, value: str) -> None:
    labels = _csv(tmp_path / "l.csv", {"cohort": value}, ["0.png"])
    with pytest.raises(DataError) as info:
        read_labels(labels, keys=("file",), bad=BadFiles(), label_names=["a", "b"], meta_columns=["cohort"])
    assert info.value.source == str(labels) and "'cohort'" in info.value.problem and value not in str(info.value)


def test_declared_ordinary_columns_and_undeclared_clinical_ones_with_bad_values(tmp_path: Path) -> None:
    labels = _csv(tmp_path / "l.csv", {"cohort": "trial-2", "age": "67", "site": "jane@example.org"}, ["0.png"])
    table = read_labels(labels, keys=("file",), bad=BadFiles(), label_names=["a", "b"], meta_columns=["cohort", "age"])
    assert table.rows[0].meta == {"cohort": "trial-2", "age": "67"}
    table = read_labels(labels, keys=("file",), bad=BadFiles(), label_names=["a", "b"])
    assert table.rows[0].meta == {}  # cohort and age undeclared; site holds an e-mail address


def test_annex_e_reference_list() -> None:
    from pydicom.datadict import keyword_dict

    from medrobust.datasets.identifiers import ANNEX_E_KEYWORDS, annex_e_keyword, is_clinical, looks_identifying

    assert len(ANNEX_E_KEYWORDS) >= 60 and len(set(ANNEX_E_KEYWORDS)) == len(ANNEX_E_KEYWORDS)
    assert [k for k in ANNEX_E_KEYWORDS if k not in keyword_dict] == []
    for k in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "AccessionNumber", "StudyDate"):
        assert k in ANNEX_E_KEYWORDS
    assert {"InstitutionName", "ReferringPhysicianName", "SOPInstanceUID"} <= set(ANNEX_E_KEYWORDS)
    assert annex_e_keyword("patient_birth_date") == annex_e_keyword("PatientBirthDate") == "PatientBirthDate"
    assert annex_e_keyword("accession number") == "AccessionNumber" and annex_e_keyword("site") is None
    assert all(looks_identifying(c) for c in IDENTIFYING if c != "visit")
    assert all(is_clinical(c) and not looks_identifying(c) for c in CLINICAL)


def test_clinical_values_are_not_mistaken_for_identifiers() -> None:
    from medrobust.datasets.identifiers import identifying_value

    for value in ("40-49", "90+", "A", "GE MEDICAL SYSTEMS", "CHEST", "F", "1.5T", "unknown", "Aquilion 64", "PA"):
        assert identifying_value(value) is None, value
    assert identifying_value("1.2.840.113619.2.55.3") == "DICOM UIDs"


def test_dicom_header_metadata_uses_the_allow_list() -> None:
    from pydicom.dataset import Dataset

    from medrobust.datasets.dicom import header_meta
    from medrobust.datasets.identifiers import is_clinical

    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientAge = "Doe^Jane", "PID123456", "F", "067Y"
    ds.Manufacturer, ds.Modality, ds.BodyPartExamined = "jane@example.org", "CT", "CHEST"
    meta = header_meta(ds)
    assert all(is_clinical(k) for k in meta)
    assert meta == {"sex": "F", "age_band": "60-69", "manufacturer": "unknown", "body_part": "CHEST", "modality": "CT"}
