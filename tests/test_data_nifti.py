"""NIfTI on the files nibabel ships: scaling, orientation, 4D volumes, resizing, bad files, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from nibabel.testing import data_path

from medrobust.cli.commands import main
from medrobust.datasets.nifti import nifti
from medrobust.datasets.registry import build_dataset
from medrobust.errors import ConfigError, DataError

SHIPPED = [
    "anatomical.nii",
    "functional.nii",
    "example4d.nii.gz",
    "standard.nii.gz",
    "example_nifti2.nii.gz",
    "reoriented_anat_moved.nii",
]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nifti")
    for name in SHIPPED:
        shutil.copy(Path(data_path) / name, folder / name)
    return folder


def write_csv(path: Path, rows: list[str], header: str = "file,label,sex") -> Path:
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def canonical(name: str) -> np.ndarray:
    return np.asarray(nib.as_closest_canonical(nib.load(Path(data_path) / name)).get_fdata(), dtype=np.float64)


def test_shipped_volumes_are_min_max_scaled_in_canonical_order(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", ["anatomical.nii,0,F", "reoriented_anat_moved.nii,1,M"])
    data = nifti(root, labels, size=16)
    assert data.info.spatial_dims == 3 and data.info.bounds == (0.0, 1.0)
    assert data[0][0].shape == (1, 16, 16, 16) and data[0][2] == {"sex": "F"}
    full = nifti(root, write_csv(tmp_path / "a.csv", ["anatomical.nii,0,F"]), label_names=["a", "b"])
    raw = canonical("anatomical.nii")  # big-endian int16 on disk
    np.testing.assert_allclose(full[0][0][0].numpy(), (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-6)
    assert full.sample_id(0).startswith("nii-") and full.fingerprint() != data.fingerprint()


def test_windows_raw_units_and_percentile(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", ["standard.nii.gz,1,F"])
    raw = nifti(root, labels, window="raw", bounds=[0, 255], label_names=["a", "b"])
    np.testing.assert_allclose(raw[0][0][0].numpy(), canonical("standard.nii.gz"))
    assert raw.info.bounds == (0.0, 255.0)
    windowed = nifti(root, labels, window=[100, 50], label_names=["a", "b"])[0][0]
    assert float(windowed.min()) == 0.0 and float(windowed.max()) == 1.0
    assert nifti(root, labels, window="percentile", label_names=["a", "b"])[0][0].shape == (1, 4, 5, 7)
    with pytest.raises(ConfigError, match="bounds apply to window=raw"):
        nifti(root, labels, bounds=[0, 1])
    with pytest.raises(ConfigError, match="DICOM"):
        nifti(root, labels, window="voi")


def test_orientation_is_canonical(tmp_path: Path) -> None:
    volume = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / "ras.nii.gz")
    nib.save(nib.Nifti1Image(volume[::-1].copy(), np.diag([-1.0, 1, 1, 1])), tmp_path / "las.nii.gz")
    data = nifti(tmp_path, write_csv(tmp_path / "l.csv", ["ras.nii.gz,0,F", "las.nii.gz,1,M"]))
    assert torch.equal(data[0][0], data[1][0])


def test_4d_files_need_a_volume(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", ["functional.nii,0,F", "example4d.nii.gz,1,M", "example_nifti2.nii.gz,1,F"])
    with pytest.raises(DataError, match=r"functional\.nii: expected a 3D volume, got a 4D image .* volume=K"):
        nifti(root, labels)
    data = nifti(root, labels, volume=1, size=[8, 8, 4])
    assert len(data) == 3 and data[2][0].shape == (1, 8, 8, 4)
    with pytest.raises(DataError, match="volume=30 but the file has 20 volumes"):
        nifti(root, labels, volume=30)


def test_bad_volumes_are_named_and_skippable(root: Path, tmp_path: Path) -> None:
    nan = np.zeros((6, 6, 6), np.float32)
    nan[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), root / "nan.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((6, 6), np.float32), np.eye(4)), root / "flat.nii")
    blob = (root / "anatomical.nii").read_bytes()
    (root / "truncated.nii").write_bytes(blob[: len(blob) // 2])
    (root / "notes.txt").write_text("hello")
    cases = {
        "nan.nii.gz,0,F": r"nan\.nii\.gz: has 1 NaN or infinite voxels",
        "flat.nii,0,F": r"flat\.nii: expected a 3D volume, got a 2D image",
        "truncated.nii,0,F": r"truncated\.nii: not a readable NIfTI file",
        "notes.txt,0,F": r"notes\.txt: not a readable NIfTI file",
        "missing.nii,0,F": r"l\.csv row 2: names file 'missing\.nii'",
        "anatomical.nii,2,F": r"l\.csv row 2: label '2' is outside the declared classes",
    }
    for row, message in cases.items():
        with pytest.raises(DataError, match=message):
            nifti(root, write_csv(tmp_path / "l.csv", [row]), label_names=["a", "b"])
    rows = ["anatomical.nii,0,F", *cases, "standard.nii.gz,1,M"]
    data = nifti(root, write_csv(tmp_path / "l.csv", rows), label_names=["a", "b"], on_error="skip", size=8)
    assert len(data) == 2 and len(data.skipped) == len(cases)


def test_lazy_reading_gives_the_same_samples(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", ["anatomical.nii,0,F", "standard.nii.gz,1,M"])
    cached, lazy = nifti(root, labels, size=8), nifti(root, labels, size=8, cache=False)
    assert lazy.images == [] and torch.equal(cached[1][0], lazy[1][0])
    assert cached.fingerprint() == lazy.fingerprint()


def test_cli_run_on_nifti(root: Path, tmp_path: Path) -> None:
    labels = write_csv(
        tmp_path / "l.csv",
        ["anatomical.nii,0,F", "standard.nii.gz,1,M", "reoriented_anat_moved.nii,0,M", "anatomical.nii,1,F"],
    )
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--data",
            "nifti",
            "-D",
            f"root={root}",
            "-D",
            f"labels={labels}",
            "-D",
            "size=16",
            "--model",
            "smallcnn",
            "--random-init",
            "--num-classes",
            "2",
            "--spatial-dims",
            "3",
            "--attack",
            "fgsm",
            "--eps",
            "0,2/255",
            "--bootstrap",
            "0",
            "--subgroup",
            "sex",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"sex"' in (tmp_path / "out" / "summary.json").read_text()


def test_registry_builds_nifti(root: Path, tmp_path: Path) -> None:
    labels = write_csv(tmp_path / "l.csv", ["standard.nii.gz,1,M"])
    assert len(build_dataset("nifti", root=str(root), labels=str(labels), label_names=["a", "b"])) == 1
