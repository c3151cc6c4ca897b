"""Adversarial DICOM out (issue 12): quantised examples written back as DICOM, re-read to the same predictions."""

from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import highdicom
import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file

import medrobust
from medrobust.datasets.dicom import dicom
from medrobust.datasets.dicom_write import write_copies
from medrobust.datasets.file_space import Grid
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.preprocessing import Preprocess
from tests.test_file_space import MeanDensity, ct_folder, stacked

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

KW = {"window": "lung", "size": 32, "space": "file", "label_names": ["low", "high"]}


def _run(tmp_path: Path, adv: Path, out: str = "out") -> tuple[medrobust.Results, Path]:
    folder = ct_folder(tmp_path / "ct", 6, bits=12)
    data = dicom(folder, folder / "labels.csv", **KW)  # type: ignore[arg-type]
    means = Preprocess(stages=data.info.stages)(stacked(data)).flatten(1).mean(1)
    model = ModelAdapter(
        MeanDensity(float(means.median())), "binary", num_outputs=2, bounds=data.info.bounds, stages=data.info.stages
    )
    results = medrobust.evaluate(
        model, data, ["pgd"], eps=[0, 5, 40], bootstrap=0, out_dir=tmp_path / out, write_adversarial=adv
    )
    return results, folder


def test_written_copies_reread_to_the_reported_quantised_predictions(tmp_path: Path) -> None:
    adv = tmp_path / "adversarial"
    results, source = _run(tmp_path, adv)
    for budget, eps in (("5", 5.0), ("40", 40.0)):
        folder = adv / "pgd-linf+quantised" / budget
        index = list(csv.DictReader((folder / "index.csv").open()))
        assert len(index) == 6
        reread = dicom(folder, folder / "index.csv", **KW)  # type: ignore[arg-type]
        net = MeanDensity(0.0)  # the run's network, rebuilt
        data = dicom(source, source / "labels.csv", **KW)  # type: ignore[arg-type]
        net.t = float(Preprocess(stages=data.info.stages)(stacked(data)).flatten(1).mean(1).median())
        adapter = ModelAdapter(net, "binary", num_outputs=2, bounds=reread.info.bounds, stages=reread.info.stages)
        preds = adapter.head.predict(adapter.logits(stacked(reread))).tolist()
        sample_of = dict(zip(results.clean["sample_id"], results.clean["sample"], strict=True))
        rows = results.rows[(results.rows["attack"] == "pgd-linf+quantised") & (results.rows["eps"] == eps)]
        reported = dict(zip(rows["sample"], rows["pred"], strict=True))
        assert preds == [int(reported[sample_of[r["sample_id"]]]) for r in index], budget
        for r in index:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a written file reads without a single pydicom warning
                ds = pydicom.dcmread(folder / r["file"])
                assert ds.pixel_array.size == 128 * 128
                assert highdicom.imread(folder / r["file"]).get_frame(1).shape == (128, 128)  # and so does highdicom
            assert ds.pixel_array.dtype.kind in "iu" and ds.pixel_array.min() >= 0 and ds.pixel_array.max() <= 4095
            assert ds.ImageType[0] == "DERIVED" and "medrobust" in ds.DerivationDescription
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    sources = {pydicom.dcmread(p).SOPInstanceUID for p in source.glob("*.dcm")}
    written = sorted(p.name for p in (adv / "pgd-linf+quantised" / "40").glob("*.dcm"))
    assert not sources & {pydicom.dcmread(adv / "pgd-linf+quantised" / "40" / n).SOPInstanceUID for n in written}
    again = tmp_path / "again"
    _run(tmp_path / "second", again)
    assert sorted(p.name for p in (again / "pgd-linf+quantised" / "40").glob("*.dcm")) == written  # deterministic
    name = str(pydicom.dcmread(next(source.glob("*.dcm"))).PatientName)
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert name.encode() not in f.read_bytes(), f  # identifiers stay in the folder the user named


def test_the_copies_never_go_into_the_results_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inside the results folder"):
        _run(tmp_path, tmp_path / "out" / "adv")
    folder = ct_folder(tmp_path / "m", 2)
    model_space = dicom(folder, folder / "labels.csv", window="lung", label_names=["a", "b"])
    net = ModelAdapter(MeanDensity(0.5), "binary", num_outputs=2)
    with pytest.raises(ConfigError, match="space=file"):
        medrobust.evaluate(net, model_space, ["fgsm"], eps=[0, 0.01], bootstrap=0, write_adversarial=tmp_path / "a")


@pytest.mark.parametrize("name", ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm"])
def test_compressed_and_big_endian_sources_are_written_uncompressed(tmp_path: Path, name: str) -> None:
    src = Path(str(get_testdata_file(name)))
    shutil.copy(src, tmp_path / name)
    original = pydicom.dcmread(src)
    grid = Grid(1.0, 0.0, -32768, 32767)
    image = torch.from_numpy(original.pixel_array.astype(np.float32))[None] + 3  # every value edited by 3
    (path,) = write_copies([tmp_path / name], image, grid, tmp_path / "out", "test@3", "a test")
    copy = pydicom.dcmread(path)
    assert np.array_equal(copy.pixel_array.astype(np.int64), original.pixel_array.astype(np.int64) + 3)
    assert copy.PatientName == original.PatientName and copy.StudyInstanceUID == original.StudyInstanceUID
    assert copy.SeriesInstanceUID != original.SeriesInstanceUID


def test_nifti_copies_keep_the_grid_axes_and_reread_to_the_reported_predictions(tmp_path: Path) -> None:
    import nibabel as nib

    from medrobust.datasets.nifti import nifti
    from medrobust.models.small_cnn import SmallCNN

    rng = np.random.default_rng(0)
    lines = []
    for i in range(4):
        nib.save(
            nib.Nifti1Image(rng.integers(-300, 900, (9, 10, 8)).astype(np.int16), np.diag([-1.0, 1, 1, 1])),
            tmp_path / f"v{i}.nii",
        )
        raw = bytearray((tmp_path / f"v{i}.nii").read_bytes())
        raw[112:120] = np.array([2.0, -10.0], dtype="<f4").tobytes()  # scl_slope 2, scl_inter -10
        (tmp_path / f"v{i}.nii").write_bytes(bytes(raw))
        lines.append(f"v{i}.nii,{i % 2}")
    (tmp_path / "labels.csv").write_text("file,label\n" + "\n".join(lines) + "\n")
    kw = {"window": [300, 1200], "label_names": ["a", "b"], "space": "file"}
    data = nifti(tmp_path, tmp_path / "labels.csv", **kw)  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = ModelAdapter(
        SmallCNN(1, 2, width=4, spatial_dims=3),
        "binary",
        num_outputs=2,
        bounds=data.info.bounds,
        stages=data.info.stages,
    )
    adv = tmp_path / "adv"
    results = medrobust.evaluate(model, data, ["fgsm"], eps=[0, 8], bootstrap=0, write_adversarial=adv)
    folder = adv / "fgsm-linf+quantised" / "8"
    index = list(csv.DictReader((folder / "index.csv").open()))
    for r in index:
        copy, source = (
            nib.load(folder / r["file"]),
            nib.load(tmp_path / f"v{results.clean.set_index('sample_id').loc[r['sample_id'], 'sample']}.nii"),
        )
        assert (copy.dataobj.slope, copy.dataobj.inter) == (2.0, -10.0) and np.allclose(copy.affine, source.affine)
        change = np.asarray(copy.get_fdata()) - np.asarray(source.get_fdata())
        assert np.abs(change).max() <= 8 and np.allclose(change % 2, 0)  # whole stored steps of 2, inside the budget
    reread = nifti(folder, folder / "index.csv", **kw)  # type: ignore[arg-type]
    preds = model.head.predict(model.logits(torch.stack([reread[i][0] for i in range(len(reread))]))).tolist()
    sample_of = dict(zip(results.clean["sample_id"], results.clean["sample"], strict=True))
    rows = results.rows[(results.rows["attack"] == "fgsm-linf+quantised") & (results.rows["eps"] == 8)]
    reported = dict(zip(rows["sample"], rows["pred"], strict=True))
    assert preds == [int(reported[sample_of[r["sample_id"]]]) for r in index]


def test_a_series_is_written_slice_by_slice_in_the_loaders_order(tmp_path: Path) -> None:
    from tests.test_data_dicom import write_series

    (tmp_path / "s").mkdir()
    uid = write_series(tmp_path / "s", [2, 0, 3, 1])  # files in shuffled order; slice k holds 100 k stored
    (tmp_path / "l.csv").write_text(f"SeriesInstanceUID,label\n{uid},1\n")
    data = dicom(tmp_path / "s", tmp_path / "l.csv", window="raw", label_names=["a", "b"], space="file")
    assert data.info.stages == () and data[0][0].shape == (1, 4, 128, 128)
    volume = data[0][0].clone()
    volume[0, 3] += 7  # edit only the last slice along the series' normal
    written = write_copies(data.entries[0].load.paths, volume, data.info.grid, tmp_path / "out", "t@7", "test")
    values = {int(pydicom.dcmread(p).pixel_array.mean()) for p in written}
    assert values == {0, 100, 200, 307}  # the edit landed in the slice the loader put last
    series = {pydicom.dcmread(p).SeriesInstanceUID for p in written}
    assert len(series) == 1 and series != {uid}  # one new series for the copies
