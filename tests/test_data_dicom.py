"""DICOM on the files pydicom ships: modality LUT, windows, MONOCHROME1, multi-frame, series, bad files,
no identifiers."""

from __future__ import annotations

import copy
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from click.testing import CliRunner
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medrobust.cli.commands import main
from medrobust.datasets.dicom import age_band_of, dicom
from medrobust.datasets.registry import build_dataset
from medrobust.engine.evaluate import evaluate
from medrobust.errors import ConfigError, DataError
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the padded file's excess bytes

MR_VARIANTS = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_padded.dcm"]
SHIPPED = ["CT_small.dcm", *MR_VARIANTS, "rtdose.dcm", "SC_rgb_rle_2frame.dcm", "MR_small_jpeg_ls_lossless.dcm"]
SHIPPED.append("SC_rgb_jpeg_gdcm.dcm")  # JPEG Lossless (process 14): only pylibjpeg-libjpeg or GDCM decode it
NO_DECODER = "SC_rgb_jpeg_gdcm.dcm"


def shipped(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding copies of the shipped test files."""
    folder = tmp_path_factory.mktemp("dicom")
    for name in SHIPPED:
        shutil.copy(shipped(name), folder / name)
    return folder


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def hu(name: str) -> np.ndarray:
    ds = pydicom.dcmread(shipped(name))
    return ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))


def test_mr_variants_decode_identically_through_their_own_window(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", "file,label", [f"{n},{i % 2}" for i, n in enumerate(MR_VARIANTS)])
    data = dicom(root, labels)
    images = [data[i][0] for i in range(len(data))]
    assert all(torch.equal(images[0], im) for im in images[1:])  # RLE, big-endian, padded: same pixels
    raw = hu("MR_small.dcm")  # WindowCenter 600, WindowWidth 1600 in the header
    expected = np.clip((raw - 599.5) / 1599 + 0.5, 0, 1)
    assert images[0].shape == (1, 64, 64)
    np.testing.assert_allclose(images[0][0].numpy(), expected, atol=1e-4)


def test_ct_modality_lut_gives_hounsfield_units_and_windows(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", "file,label", ["CT_small.dcm,1"])
    raw = dicom(root, labels, window="raw", label_names=["normal", "nodule"])
    assert raw.info.bounds == (-1024.0, 3071.0) and "physical units" in raw.info.units
    np.testing.assert_allclose(raw[0][0][0].numpy(), np.clip(hu("CT_small.dcm"), -1024, 3071), atol=1e-3)
    lung = dicom(root, labels, window="lung", label_names=["normal", "nodule"])[0][0][0].numpy()
    np.testing.assert_allclose(lung, np.clip((hu("CT_small.dcm") + 600.5) / 1499 + 0.5, 0, 1), atol=1e-5)
    custom = dicom(root, labels, window=[40, 400], label_names=["normal", "nodule"])[0][0]
    abdomen = dicom(root, labels, window="abdomen", label_names=["normal", "nodule"])[0][0]
    assert torch.equal(custom, abdomen)
    for name in ("mediastinum", "bone", "brain"):
        assert not torch.equal(dicom(root, labels, window=name, label_names=["a", "b"])[0][0], abdomen)
    narrow = dicom(root, labels, window="raw", bounds=[-100, 100], label_names=["a", "b"])
    assert float(narrow[0][0].min()) == -100.0 and float(narrow[0][0].max()) == 100.0


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))
    mono1 = copy.deepcopy(ds)
    mono1.PhotometricInterpretation = "MONOCHROME1"
    mono1.save_as(tmp_path / "m1.dcm")
    ds.save_as(tmp_path / "m2.dcm")
    data = dicom(tmp_path, write_csv(tmp_path / "l.csv", "file,label", ["m1.dcm,0", "m2.dcm,1"]), window="lung")
    assert torch.allclose(data[0][0], 1 - data[1][0], atol=1e-6)


def test_multiframe_files_become_volumes(root: Path, tmp_path: Path) -> None:
    grey = dicom(
        root, write_csv(tmp_path / "a.csv", "file,label", ["rtdose.dcm,1"]), window="minmax", label_names=["a", "b"]
    )
    frames = pydicom.dcmread(shipped("rtdose.dcm")).pixel_array.astype(np.float64)
    assert grey.info.spatial_dims == 3 and grey[0][0].shape == (1, 15, 10, 10)
    np.testing.assert_allclose(
        grey[0][0][0].numpy(), (frames - frames.min()) / (frames.max() - frames.min()), atol=1e-6
    )
    colour = dicom(
        root,
        write_csv(tmp_path / "b.csv", "file,label", ["SC_rgb_rle_2frame.dcm,0"]),
        label_names=["a", "b"],
        size=[2, 32, 32],
    )
    assert colour[0][0].shape == (3, 2, 32, 32) and float(colour[0][0].max()) <= 1.0


def write_series(folder: Path, order: list[int], same_position: bool = False) -> str:
    """Slices of one series written in shuffled order; slice k holds the value 100*k HU above -1024."""
    src = pydicom.dcmread(shipped("CT_small.dcm"))
    for j, k in enumerate(order):
        ds = copy.deepcopy(src)
        ds.ImagePositionPatient = [-158.1, -179.0, -75.7 + (0 if same_position else 5 * k)]
        ds.SOPInstanceUID = generate_uid()
        ds.PixelData = np.full((128, 128), 100 * k, dtype=np.int16).tobytes()
        ds.save_as(folder / f"slice{j}.dcm")
    return str(src.SeriesInstanceUID)


def test_series_is_stacked_by_image_position(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    uid = write_series(tmp_path / "s", [2, 0, 3, 1])
    data = dicom(
        tmp_path / "s",
        write_csv(tmp_path / "l.csv", "SeriesInstanceUID,label", [f"{uid},1"]),
        window="raw",
        label_names=["a", "b"],
    )
    volume = data[0][0]
    assert volume.shape == (1, 4, 128, 128) and data.info.spatial_dims == 3
    assert volume[0, :, 0, 0].tolist() == [-1024.0, -924.0, -824.0, -724.0]
    (tmp_path / "d").mkdir()
    uid = write_series(tmp_path / "d", [0, 1], same_position=True)
    with pytest.raises(DataError, match="share one position"):
        dicom(
            tmp_path / "d",
            write_csv(tmp_path / "m.csv", "SeriesInstanceUID,label", [f"{uid},1"]),
            label_names=["a", "b"],
        )


def test_sop_uid_key_and_header_metadata(root: Path, tmp_path: Path) -> None:
    ct, mr = (pydicom.dcmread(shipped(n)) for n in ("CT_small.dcm", "MR_small.dcm"))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(shipped(name), mixed / name)
    labels = write_csv(
        tmp_path / "l.csv", "SOPInstanceUID,label,site", [f"{ct.SOPInstanceUID},0,A", f"{mr.SOPInstanceUID},1,B"]
    )
    data = dicom(mixed, labels, window="minmax", size=32)
    assert data[0][2] == {
        "age_band": "0-9",
        "body_part": "unknown",
        "manufacturer": "GE MEDICAL SYSTEMS",
        "modality": "CT",
        "sex": "O",
        "site": "A",
    }
    assert data[1][2]["sex"] == "F" and data[1][2]["age_band"] == "unknown" and data[1][2]["modality"] == "MR"
    assert data.sample_id(0).startswith("dcm-") and str(ct.SOPInstanceUID) not in data.sample_id(0)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        ("045Y", "40-49"),
        ("000Y", "0-9"),
        ("006M", "0-9"),
        ("089Y", "80-89"),
        ("093Y", "90+"),
        ("", "unknown"),
        ("45", "unknown"),
    ],
)
def test_age_bands(age: str, band: str) -> None:
    assert age_band_of(age) == band


def test_bad_files_are_named(root: Path, tmp_path: Path) -> None:
    data = (root / "CT_small.dcm").read_bytes()
    (root / "truncated.dcm").write_bytes(data[: len(data) // 2])
    (root / "notes.txt").write_text("not an image")
    cases = {
        "truncated.dcm,0": r"truncated\.dcm: pixel data is truncated or corrupt",
        "notes.txt,0": r"notes\.txt: not a DICOM file",
        "missing.dcm,0": r"l\.csv row 2: names file 'missing\.dcm', which does not exist",
        "CT_small.dcm,7": r"l\.csv row 2: label '7' is outside the declared classes",
    }
    for row, message in cases.items():
        with pytest.raises(DataError, match=message):
            dicom(root, write_csv(tmp_path / "l.csv", "file,label", [row]), label_names=["a", "b"])
    with pytest.raises(DataError, match=r"rtdose\.dcm: expected a 2D image, got 3D"):
        dicom(root, write_csv(tmp_path / "l.csv", "file,label", ["CT_small.dcm,0", "rtdose.dcm,1"]), window="minmax")


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is not None for m in ("libjpeg", "gdcm")),
    reason="a JPEG Lossless decoder plugin is installed",
)
def test_compressed_without_plugin_names_the_plugin(root: Path, tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"SC_rgb_jpeg_gdcm\.dcm: cannot decode .*JPEG Lossless.*pylibjpeg-libjpeg.*dicom-codecs"
    ):
        dicom(root, write_csv(tmp_path / "l.csv", "file,label", [f"{NO_DECODER},0"]), label_names=["a", "b"])


def test_skip_policy_lists_every_bad_input_without_uids(root: Path, tmp_path: Path) -> None:
    (root / "notes.txt").write_text("not an image")
    rows = [
        "CT_small.dcm,0",
        "notes.txt,1",
        "missing.dcm,0",
        "CT_small.dcm,9",
        "MR_small.dcm,1",
        f"{NO_DECODER},0",
    ]
    data = dicom(
        root, write_csv(tmp_path / "l.csv", "file,label", rows), label_names=["a", "b"], on_error="skip", size=32
    )
    # the JPEG Lossless file is skipped either way: undecodable here, or an RGB image among greyscale ones
    assert len(data) == 2 and len(data.skipped) == 4
    assert all(set(s) == {"source", "problem"} for s in data.skipped)
    ghost = "1.2.826.0.1.3680043.8.498.99999999"
    uid_csv = write_csv(
        tmp_path / "u.csv",
        "SOPInstanceUID,label",
        [f"{ghost},0", f"{pydicom.dcmread(shipped('CT_small.dcm')).SOPInstanceUID},1"],
    )
    data = dicom(root, uid_csv, label_names=["a", "b"], on_error="skip")
    assert ghost not in str(data.skipped) and "u.csv row 2" in str(data.skipped)


def test_identifier_columns_never_become_metadata(root: Path, tmp_path: Path) -> None:
    labels = write_csv(
        tmp_path / "l.csv",
        "file,label,PatientID,patient_name,birth_date,site",
        ["CT_small.dcm,0,1CT1,Doe^J,19700101,A"],
    )
    data = dicom(root, labels, label_names=["a", "b"])
    assert "PatientID" not in data[0][2] and "patient_name" not in data[0][2] and data[0][2]["site"] == "A"
    with pytest.raises(ConfigError, match="patient identifier"):
        dicom(root, labels, label_names=["a", "b"], meta_columns=["PatientID"])


def identifiers(names: list[str]) -> set[str]:
    """Every patient identifier in the headers of the shipped files ``names``."""
    found: set[str] = set()
    for name in names:
        ds = pydicom.dcmread(shipped(name), stop_before_pixels=True)
        for keyword in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "SOPInstanceUID",
            "SeriesInstanceUID",
            "StudyInstanceUID",
            "FrameOfReferenceUID",
        ):
            value = str(ds.get(keyword, "") or "")
            if value:
                found |= {value, *value.split("^")} if keyword == "PatientName" else {value}
    return {v for v in found if len(v) >= 4}


def test_dicom_results_folder_carries_no_patient_identifier(root: Path, tmp_path: Path) -> None:
    names = ["CT_small.dcm", "MR_small.dcm"]
    secrets = identifiers(names)
    assert {"CompressedSamples^CT1", "1CT1", "4MR1"} <= secrets
    uids = [str(pydicom.dcmread(shipped(n)).SOPInstanceUID) for n in names]
    rows = [f"{uids[0]},0", f"{uids[1]},1", f"{uids[0]},0", f"{uids[1]},1", "1.2.3.4.5.6.7.8.9,0"]
    data = dicom(
        root,
        write_csv(tmp_path / "l.csv", "SOPInstanceUID,label", rows),
        window="minmax",
        size=32,
        label_names=["normal", "finding"],
        on_error="skip",
    )
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2), make_head("binary", 2), bounds=(0.0, 1.0), input_shape=(1, 32, 32))
    out = tmp_path / "results"
    results = evaluate(
        model, data, attacks=["fgsm"], eps=[0, "2/255"], subgroups=["sex", "age_band"], out_dir=out, bootstrap=0
    )
    assert set(results.summary["subgroups"]["sex"]["groups"]) == {"F", "O"}
    assert results.manifest["data"]["skipped"] and results.manifest["data"]["extra"]["window"] == "minmax"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        blob = path.read_bytes()
        leaked = [s for s in secrets if s.encode() in blob]
        assert not leaked, f"{path.name} contains {leaked}"


def test_cli_run_on_dicom(root: Path, tmp_path: Path) -> None:
    labels = write_csv(
        tmp_path / "l.csv",
        "file,label",
        ["CT_small.dcm,0", "MR_small.dcm,1", "MR_small_RLE.dcm,0", "MR_small_bigendian.dcm,1"],
    )
    args = [
        "run",
        "--data",
        "dicom",
        "-D",
        f"root={root}",
        "-D",
        f"labels={labels}",
        "-D",
        "window=raw",
        "-D",
        "bounds=[-1024,3071]",
        "-D",
        "size=32",
        "--model",
        "smallcnn",
        "--random-init",
        "--num-classes",
        "2",
        "--attack",
        "fgsm",
        "--eps",
        "0,1,4",
        "--bootstrap",
        "0",
        "--subgroup",
        "modality",
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "fgsm-linf" in result.output
    bad = CliRunner().invoke(main, [*args[:7], "-D", "window=nosuch"])
    assert bad.exit_code == 2 and "unknown window" in bad.output


def test_registry_builds_dicom(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", "file,label", ["CT_small.dcm,0"])
    assert len(build_dataset("dicom", root=str(root), labels=str(labels), window="lung", label_names=["a", "b"])) == 1
