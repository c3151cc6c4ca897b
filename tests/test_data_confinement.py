"""File access confined to ``root``: CSV paths and links leading outside are refused before any file is opened."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medrobust.datasets.dicom import dicom
from medrobust.datasets.folder import folder
from medrobust.datasets.nifti import nifti
from medrobust.datasets.registry import build_dataset
from medrobust.errors import DataError


def png(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8), mode="L").save(path)
    return path


def link(target: Path, at: Path) -> None:
    """``at`` -> ``target``, or skip where this system does not permit symlinks."""
    try:
        os.symlink(target, at, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError) as exc:
        pytest.skip(f"os.symlink is not permitted here ({type(exc).__name__}: {exc})")


@pytest.fixture()
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """``root/`` with two images and ``outside/`` next to it with one."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    png(root / "a.png", 10)
    png(root / "b.png", 20)
    png(outside / "x.png", 30)
    return root, outside


def labels(path: Path, *files: str) -> Path:
    path.write_text("file,label\n" + "".join(f"{f},{i % 2}\n" for i, f in enumerate(["a.png", *files])))
    return path


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the image, DICOM and NIfTI readers open."""
    seen: list[str] = []
    pil_open, dcmread = Image.open, pydicom.dcmread
    import nibabel as nib

    nib_load = nib.load

    def spy(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(str(path))
            return real(path, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(Image, "open", spy(pil_open))
    monkeypatch.setattr(pydicom, "dcmread", spy(dcmread))
    monkeypatch.setattr(nib, "load", spy(nib_load))
    return seen


def _refused(root: Path, csv: Path, key: str, **kwargs: Any) -> None:
    with pytest.raises(DataError) as info:
        folder(root, labels=csv, label_names=["a", "b"], **kwargs)
    assert info.value.source == f"{csv} row 3" and repr(key) in info.value.problem
    assert "outside root" in info.value.problem


def test_parent_and_absolute_paths_are_refused(layout: tuple[Path, Path], tmp_path: Path, opened: list[str]) -> None:
    root, outside = layout
    for key in ("../outside/x.png", str(outside / "x.png"), "sub/../../outside/x.png"):
        _refused(root, labels(tmp_path / "l.csv", key), key)
        _refused(root, labels(tmp_path / "l.csv", key), key, on_error="skip")
    assert not any("outside" in p for p in opened), opened


def test_etc_passwd_is_never_opened(layout: tuple[Path, Path], tmp_path: Path, opened: list[str]) -> None:
    root, _ = layout
    key = "../" * len(root.resolve().parts) + "etc/passwd"  # climbs to / whatever the depth of tmp_path
    csv = labels(tmp_path / "l.csv", key)
    _refused(root, csv, key)
    with pytest.raises(DataError, match="outside root"):
        nifti(root, csv, label_names=["a", "b"])
    with pytest.raises(DataError, match="outside root"):
        dicom(root, csv, label_names=["a", "b"])
    assert not any("passwd" in p for p in opened), opened


def test_symlinked_file_and_folder_leading_outside_are_refused(
    layout: tuple[Path, Path], tmp_path: Path, opened: list[str]
) -> None:
    root, outside = layout
    link(outside / "x.png", root / "x.png")
    link(outside, root / "linked")
    for key in ("x.png", "linked/x.png"):
        _refused(root, labels(tmp_path / "l.csv", key), key)
    assert not [p for p in opened if p.endswith("x.png")], opened
    link(root / "b.png", root / "alias.png")  # a link that stays inside root is fine
    assert len(folder(root, labels=labels(tmp_path / "l.csv", "alias.png"), label_names=["a", "b"])) == 2


def test_class_folders_and_dicom_scans_refuse_links_leading_outside(layout: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = layout
    png(root / "c0" / "k.png")
    link(outside, root / "c1")  # a whole class folder elsewhere
    with pytest.raises(DataError, match="outside root"):
        folder(root)
    assert len(folder(root, allow_outside_root=True)) == 2
    scans, elsewhere = tmp_path / "scans", tmp_path / "elsewhere"
    scans.mkdir()
    elsewhere.mkdir()
    ct = get_testdata_file("CT_small.dcm")
    assert ct is not None
    shutil.copy(ct, elsewhere / "ct.dcm")
    link(elsewhere / "ct.dcm", scans / "ct.dcm")
    uid = pydicom.dcmread(ct, stop_before_pixels=True).SOPInstanceUID
    (tmp_path / "u.csv").write_text(f"SOPInstanceUID,label\n{uid},1\n")
    with pytest.raises(DataError, match=r"ct\.dcm: is a link that leads outside root"):
        dicom(scans, tmp_path / "u.csv", label_names=["a", "b"])
    assert len(dicom(scans, tmp_path / "u.csv", label_names=["a", "b"], allow_outside_root=True)) == 1


def test_allow_outside_root_opts_out_through_the_registry(layout: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = layout
    csv = labels(tmp_path / "l.csv", "../outside/x.png")
    params = {"root": str(root), "labels": str(csv), "label_names": ["a", "b"]}
    with pytest.raises(DataError, match="allow_outside_root"):
        build_dataset("folder", **params)
    data = build_dataset("folder", **params, allow_outside_root=True)  # as a YAML data: section passes it
    assert len(data) == 2 and float(data[1][0].max()) == pytest.approx(30 / 255)
