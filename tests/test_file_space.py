"""File space (issue 12): stored values in HU as the attack space, the window and resize in the model,
adversarial images rounded onto the files' stored-value grid."""

from __future__ import annotations

import copy
import csv
import json
import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from torch import Tensor, nn

import medrobust
from medrobust.cli.commands import main
from medrobust.datasets.base import MedicalDataset
from medrobust.datasets.dicom import dicom
from medrobust.datasets.file_space import Grid, Resize, Window
from medrobust.errors import ConfigError, DataError, ModelError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.preprocessing import Preprocess, resize, window
from medrobust.models.small_cnn import SmallCNN
from medrobust.results.summary import SCHEMA_FILE

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's notes on the shipped files


def shipped(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


def ct_folder(folder: Path, n: int = 8, *, bits: int | None = None, mono1: bool = False) -> Path:
    """``n`` CT slices from pydicom's CT_small, shifted by n HU steps so their mean density differs."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        ds = pydicom.dcmread(shipped("CT_small.dcm"))
        pixels = ds.pixel_array.astype(np.int32) + 40 * i - 140
        if bits is not None:  # unsigned with fewer bits: stored 0..2^bits-1
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
            pixels = pixels.clip(0, 2**bits - 1).astype(np.uint16)
        ds.PixelData = pixels.astype(np.uint16 if bits else np.int16).tobytes()
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(i)])
        if mono1:
            ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(folder / f"ct{i}.dcm")
        rows.append(f"ct{i}.dcm,{int(i >= n // 2)}")
    (folder / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    return folder


class MeanDensity(nn.Module):
    """Two logits from the mean of the model input: dense (class 1) above ``t``."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t

    def forward(self, z: Tensor) -> Tensor:
        m = z.flatten(1).mean(1)
        return torch.stack([self.t - m, m - self.t], dim=1) * 200


def both_spaces(folder: Path, **kw: object) -> tuple[MedicalDataset, MedicalDataset]:
    labels = folder / "labels.csv"
    common = {"labels": labels, "label_names": ["low", "high"], **kw}
    return dicom(folder, **common), dicom(folder, **common, space="file")  # type: ignore[arg-type]


def stacked(data: MedicalDataset) -> Tensor:
    return torch.stack([data[i][0] for i in range(len(data))])


@pytest.mark.parametrize("kw", [{"window": "lung", "size": 48}, {"window": [40, 400]}, {"window": "raw"}])
def test_the_same_network_gives_the_same_clean_logits_in_both_spaces(tmp_path: Path, kw: dict[str, object]) -> None:
    model_space, file_space = both_spaces(ct_folder(tmp_path / "ct"), **kw)
    assert file_space[0][0].shape == (1, 128, 128)  # native resolution, physical units
    assert file_space.info.grid == Grid(1.0, -1024.0, -32768, 32767)
    assert file_space.info.bounds == (-33792.0, 31743.0)  # what 16 signed bits with intercept -1024 can hold
    torch.manual_seed(0)
    net = SmallCNN(1, 2, width=4)
    if kw["window"] == "raw":  # model space clips raw values to its declared bounds: make them wide enough
        model_space = dicom(tmp_path / "ct", tmp_path / "ct" / "labels.csv", window="raw", bounds=[-2048, 4095])
    a_model = ModelAdapter(net, "binary", num_outputs=2, bounds=model_space.info.bounds)
    a_file = ModelAdapter(net, "binary", num_outputs=2, bounds=file_space.info.bounds, stages=file_space.info.stages)
    x_model, x_file = stacked(model_space), stacked(file_space)
    if kw["window"] == "raw":
        assert torch.equal(x_model, x_file) and file_space.info.stages == ()
    diff = (a_model.logits(x_model) - a_file.logits(x_file)).abs().max()
    assert float(diff) < 1e-4
    a_file.verify(x_file)  # the adapter's own proof runs the loader's window and resize independently


def test_the_file_window_and_monochrome1_move_into_the_model(tmp_path: Path) -> None:
    mr = tmp_path / "mr"
    mr.mkdir()
    ds = pydicom.dcmread(shipped("MR_small.dcm"))
    ds.save_as(mr / "a.dcm")
    mono1 = copy.deepcopy(ds)
    mono1.PhotometricInterpretation = "MONOCHROME1"
    mono1.save_as(tmp_path / "m1.dcm")
    (mr / "labels.csv").write_text("file,label\na.dcm,0\n")
    model_space, file_space = both_spaces(mr)  # window=voi: the file's own centre 600, width 1600
    assert file_space.info.stages == (Window(600.0, 1600.0),)
    x = stacked(file_space)
    assert torch.allclose(window(x, file_space.info.stages[0]), stacked(model_space), atol=1e-6)
    ct = ct_folder(tmp_path / "m1", 2, mono1=True)
    model_space, file_space = both_spaces(ct, window="lung")
    assert file_space.info.stages == (Window(-600.0, 1500.0, invert=True),)
    assert torch.allclose(window(stacked(file_space), file_space.info.stages[0]), stacked(model_space), atol=1e-6)


def test_a_file_space_sweep_is_in_hu_within_the_stored_range_with_a_quantised_curve(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = ct_folder(tmp_path / "ct", bits=12)
    _, data = both_spaces(folder, window="lung", size=32)
    assert data.info.bounds == (-1024.0, 3071.0)  # 12 bits stored: 0..4095, intercept -1024
    means = Preprocess(stages=data.info.stages)(stacked(data)).flatten(1).mean(1)  # windowed mean density
    net = MeanDensity(float(means.median()))  # splits the slices in half: labels follow density
    model = ModelAdapter(net, "binary", num_outputs=2, bounds=data.info.bounds, stages=data.info.stages)
    with caplog.at_level(logging.WARNING):
        results = medrobust.evaluate(model, data, ["pgd"], eps=[0, 0.5, 2, 10, 40], bootstrap=0)
    assert "below the stored-value step 1" in caplog.text  # 0.5 HU cannot be stored
    curve = [b.robust_accuracy for b in results.summary.curve("pgd").budgets]
    quantised = [b.robust_accuracy for b in results.summary.curve("pgd+quantised").budgets]
    assert curve == sorted(curve, reverse=True) and quantised == sorted(quantised, reverse=True)
    assert curve[-1] < curve[0]  # 40 HU in the lung window moves the mean density across the threshold
    assert quantised[1] == quantised[0]  # below one stored step: nothing stored can change
    rows = results.rows
    for label in ("pgd-linf", "pgd-linf+quantised"):
        mine = rows[rows["attack"] == label]
        assert (mine["linf"] <= mine["eps"] + 1e-3).all(), label  # budgets are in HU
    assert not any("quantised" in w.message for w in results.summary.warnings)  # rounded copies are not checked
    zero, ten, largest = (results.summary.curve("pgd+quantised").at(e) for e in (0, 10, 40))
    assert zero.mean_abs_change == 0 and zero.mean_ssim == pytest.approx(1) and zero.mean_psnr is None
    assert 0 < ten.max_linf <= 10 and largest.max_linf <= 40 and largest.mean_ssim < ten.mean_ssim <= 1
    assert largest.mean_psnr < ten.mean_psnr  # dB in the lung window: a larger edit is more visible
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(json.loads(results.summary.to_json()), schema, cls=jsonschema.Draft202012Validator)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-2000, 2000), min_size=4, max_size=4),
    st.lists(st.floats(-30, 30), min_size=4, max_size=4),
    st.floats(0, 12),
    st.sampled_from(["linf", "l2"]),
    st.sampled_from([1.0, 0.5, 2.5]),
)
def test_snapping_stays_on_the_grid_within_the_budget_and_the_range(
    stored: list[int], delta: list[float], eps: float, norm: str, slope: float
) -> None:
    grid = Grid(slope, -1024.0, -2048, 2047)
    x = torch.tensor(stored, dtype=torch.float32).reshape(1, 1, 2, 2) * slope - 1024.0
    d = torch.tensor(delta, dtype=torch.float32).reshape(1, 1, 2, 2)
    d = d.clamp(-eps, eps) if norm == "linf" else d * min(1.0, eps / max(float(d.norm()), 1e-12))
    lo, hi = grid.bounds
    q = grid.snap((x + d).clamp(lo, hi), x, eps, norm)
    steps = (q - grid.intercept) / slope
    assert torch.equal(steps, torch.round(steps)), "every value is a storable one"
    assert float(q.min()) >= lo and float(q.max()) <= hi
    size = (q - x).abs().max() if norm == "linf" else (q - x).norm()
    assert float(size) <= eps + 1e-4


def test_a_model_without_the_data_stages_is_refused(tmp_path: Path) -> None:
    _, data = both_spaces(ct_folder(tmp_path / "ct", 2), window="lung")
    model = ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2, bounds=data.info.bounds)
    with pytest.raises(ModelError, match=r"stages=data\.info\.stages"):
        medrobust.evaluate(model, data, ["fgsm"], eps=[0, 1], bootstrap=0)
    plain = SmallCNN(1, 2, width=4)  # a bare network is wrapped with the data's stages
    results = medrobust.evaluate(plain, data, ["fgsm"], eps=[0, 1], bootstrap=0)
    assert "fgsm-linf+quantised" in results.summary.attacks


def test_what_file_space_cannot_do_is_named(tmp_path: Path) -> None:
    folder = ct_folder(tmp_path / "ct", 2)
    with pytest.raises(ConfigError, match="window=minmax"):
        dicom(folder, folder / "labels.csv", window="minmax", space="file")
    with pytest.raises(ConfigError, match="bounds from the files"):
        dicom(folder, folder / "labels.csv", window="raw", bounds=[0, 1], space="file")
    with pytest.raises(ConfigError, match="space must be one of"):
        dicom(folder, folder / "labels.csv", space="pixels")
    ds = pydicom.dcmread(folder / "ct1.dcm")
    ds.RescaleIntercept = -1000
    ds.save_as(folder / "ct1.dcm")
    with pytest.raises(DataError, match=r"ct1\.dcm.*another grid"):
        dicom(folder, folder / "labels.csv", window="lung", space="file")


def test_the_cli_runs_file_space_and_reports_both_curves(tmp_path: Path) -> None:
    folder = ct_folder(tmp_path / "ct", 4, bits=12)
    args = ["run", "--data", "dicom", "-D", f"root={folder}", "-D", f"labels={folder / 'labels.csv'}"]
    args += ["-D", "window=lung", "-D", "size=32", "-D", "space=file", "--model", "smallcnn", "--random-init"]
    args += ["--num-classes", "2", "--attack", "fgsm", "--eps", "0,1,5", "--bootstrap", "0"]
    args += ["--out", str(tmp_path / "out"), "--quiet", "--device", "cpu"]
    args += ["--write-adversarial", str(tmp_path / "adv")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "adv" / "fgsm-linf+quantised" / "5").glob("*.dcm"))) == 4
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert '"fgsm-linf+quantised"' in summary
    manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert '"stage": "window"' in manifest and '"space": "file"' in manifest
    for page in ("report.html", "summary.md"):
        text = (tmp_path / "out" / page).read_text()
        assert "PSNR (dB)" in text and "SSIM" in text and "fgsm-linf+quantised" in text, page


def test_resize_stage_matches_the_loader_in_3d() -> None:
    from medrobust.datasets.transforms import resize as loader_resize

    x = torch.rand(2, 1, 6, 10, 8) * 100 - 50
    out = resize(x, Resize(4))
    assert torch.allclose(out, torch.stack([loader_resize(v, 4) for v in x]), atol=1e-5)


def test_nifti_file_space_uses_the_datatype_and_scaling_and_agrees_with_model_space(tmp_path: Path) -> None:
    import nibabel as nib

    from medrobust.datasets.nifti import nifti

    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        img = nib.Nifti1Image(rng.integers(-200, 800, (10, 12, 8)).astype(np.int16), np.diag([-1.0, 1, 1, 1]))
        nib.save(img, tmp_path / f"v{i}.nii")
        raw = bytearray((tmp_path / f"v{i}.nii").read_bytes())
        raw[112:120] = np.array([2.0, -10.0], dtype="<f4").tobytes()  # scl_slope, scl_inter: as scanners write them
        (tmp_path / f"v{i}.nii").write_bytes(bytes(raw))
        rows.append(f"v{i}.nii,{i % 2}")
    (tmp_path / "labels.csv").write_text("file,label\n" + "\n".join(rows) + "\n")
    kw = {"window": [300, 1200], "size": 8, "label_names": ["a", "b"]}
    model_space = nifti(tmp_path, tmp_path / "labels.csv", **kw)  # type: ignore[arg-type]
    file_space = nifti(tmp_path, tmp_path / "labels.csv", **kw, space="file")  # type: ignore[arg-type]
    assert file_space.info.grid == Grid(2.0, -10.0, -32768, 32767)
    assert file_space.info.bounds == (-65546.0, 65524.0) and file_space[0][0].shape == (1, 10, 12, 8)
    torch.manual_seed(0)
    net = SmallCNN(1, 2, width=4, spatial_dims=3)
    a_model = ModelAdapter(net, "binary", num_outputs=2, bounds=model_space.info.bounds)
    a_file = ModelAdapter(net, "binary", num_outputs=2, bounds=file_space.info.bounds, stages=file_space.info.stages)
    assert float((a_model.logits(stacked(model_space)) - a_file.logits(stacked(file_space))).abs().max()) < 1e-4
    results = medrobust.evaluate(a_file, file_space, ["fgsm"], eps=[0, 1, 4], bootstrap=0)
    assert "fgsm-linf+quantised" in results.summary.attacks
    floats = tmp_path / "f"
    floats.mkdir()
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), floats / "f.nii.gz")
    (floats / "labels.csv").write_text("file,label\nf.nii.gz,0\n")
    with pytest.raises(DataError, match="integer datatype"):
        nifti(floats, floats / "labels.csv", window="raw", space="file")


def test_the_gallery_shows_file_space_images_through_the_models_window(tmp_path: Path) -> None:
    from medrobust.reports.gallery import gallery_figure

    folder = ct_folder(tmp_path / "ct", 4, bits=12)
    _, data = both_spaces(folder, window="lung")
    model = ModelAdapter(
        SmallCNN(1, 2, width=4), "binary", num_outputs=2, bounds=data.info.bounds, stages=data.info.stages
    )
    results = medrobust.evaluate(model, data, ["fgsm"], eps=[0, 5], bootstrap=0, out_dir=tmp_path / "out")
    assert results.gallery is not None
    stage = data.info.stages[0]
    fig = gallery_figure(
        results.gallery,
        "fgsm-linf",
        results.clean,
        results.rows,
        ["low", "high"],
        data.info.bounds,
        stage.describe(),  # type: ignore[union-attr]
    )
    shown = np.asarray(fig.axes[0].images[0].get_array())
    expected = window(torch.from_numpy(results.gallery.clean[:1]).float(), stage)[0, 0].numpy()  # type: ignore[arg-type]
    assert np.allclose(shown, expected, atol=1e-5)  # the clean image as the model sees it, not HU over 4,095
    assert "Gallery" in (tmp_path / "out" / "report.html").read_text()


def test_the_integer_search_keeps_an_attack_that_nearest_rounding_loses() -> None:
    from medrobust.engine.quantise import Quantised

    grid = Grid(1.0, 0.0, 0, 4095)
    x = torch.full((1, 1, 4, 4), 100.0)
    model = ModelAdapter(MeanDensity(100.2), "binary", num_outputs=2, bounds=grid.bounds)  # dense above 100.2
    y = torch.tensor([0])
    held = x + 0.4  # the float attack: mean 100.4 > 100.2 breaks the model; nearest rounding gives back x
    assert not bool(model.head.correct(model.logits(held), y)[0])
    q = Quantised(x, model.logits(x))
    q.update(model, grid, x, held, y, None, 1.0, "linf")
    assert torch.equal(q.x, x + 1) and not bool(model.head.correct(q.logits, y)[0])  # one stored step, still broken
    q = Quantised(x, model.logits(x))
    q.update(model, grid, x, x + 0.4, y, None, 0.5, "linf")  # half a step of budget: nothing storable changes
    assert torch.equal(q.x, x)


@pytest.mark.parametrize("name", ["fgsm", "pgd", "apgd", "square"])
def test_a_masked_budget_leaves_every_pixel_outside_the_mask_alone(name: str) -> None:
    from medrobust.attacks.registry import build_attack

    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16) * 2000 - 1000  # HU: about half of it air below -500
    model = ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2, bounds=(-1024.0, 3071.0))
    mask = (x > -500).float()
    attack = build_attack(name, **({"queries": 30} if name == "square" else {"steps": 5} if name != "fgsm" else {}))
    out = attack.run(model, x, torch.tensor([0, 1, 0, 1]), 20.0 * mask, seed=0)
    delta = out.x_adv - x
    assert float(delta[mask == 0].abs().max()) == 0.0  # the contract: no change outside the mask
    assert float(delta.abs().max()) <= 20.0 + 1e-4 and float(delta[mask == 1].abs().max()) > 0


@pytest.mark.parametrize("schedule", ["ascending", "parallel"])
def test_a_body_mask_keeps_the_air_of_every_written_file_unchanged(tmp_path: Path, schedule: str) -> None:
    folder = ct_folder(tmp_path / "ct", 4, bits=12)
    data = dicom(
        folder, folder / "labels.csv", window="lung", size=32, label_names=["a", "b"], space="file", mask="body"
    )
    torch.manual_seed(0)
    model = ModelAdapter(
        SmallCNN(1, 2, width=4), "binary", num_outputs=2, bounds=data.info.bounds, stages=data.info.stages
    )
    adv = tmp_path / "adv"
    results = medrobust.evaluate(
        model, data, ["fgsm", "pgd"], eps=[0, 10, 40], bootstrap=0, schedule=schedule, write_adversarial=adv
    )
    assert results.manifest["data"]["extra"]["mask"] == "body"
    for label in ("fgsm-linf+quantised", "pgd-linf+quantised"):
        for row in csv.DictReader((adv / label / "40" / "index.csv").open()):
            sample = int(results.clean.set_index("sample_id").loc[row["sample_id"], "sample"])
            before = pydicom.dcmread(folder / f"ct{sample}.dcm").pixel_array.astype(int)
            after = pydicom.dcmread(adv / label / "40" / row["file"]).pixel_array.astype(int)
            air = before - 1024 <= -500
            assert (after[air] == before[air]).all() and np.abs(after - before).max() <= 40


def test_a_mask_is_refused_where_it_cannot_hold(tmp_path: Path) -> None:
    folder = ct_folder(tmp_path / "ct", 2)
    with pytest.raises(ConfigError, match="mask needs space=file"):
        dicom(folder, folder / "labels.csv", window="lung", mask="body")
    with pytest.raises(ConfigError, match="'body', a threshold in physical units or a folder"):
        dicom(folder, folder / "labels.csv", window="lung", space="file", mask="lungs")
    data = dicom(folder, folder / "labels.csv", window="lung", space="file", mask=-400, label_names=["a", "b"])
    net = SmallCNN(1, 2, width=4)
    with pytest.raises(ConfigError, match="L-inf budgets only"):
        medrobust.evaluate(net, data, [{"name": "pgd", "norm": "l2", "steps": 2}], eps=[0, 10], bootstrap=0)


def test_a_mask_folder_limits_each_sample_to_its_own_mask(tmp_path: Path) -> None:
    folder = ct_folder(tmp_path / "ct", 2, bits=12)
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(2):
        ds = pydicom.dcmread(folder / f"ct{i}.dcm")
        region = np.zeros((128, 128), np.uint16)
        region[40:60, 30 + 20 * i : 60 + 20 * i] = 1  # a "lesion" box, one per slice
        ds.PixelData = region.tobytes()
        ds.save_as(masks / f"ct{i}.dcm")
    kw = {"window": "lung", "label_names": ["a", "b"], "space": "file"}
    data = dicom(folder, folder / "labels.csv", mask=str(masks), **kw)  # type: ignore[arg-type]
    assert data.info.region is not None and data.info.extra["mask"] == "folder"  # no path in the manifest
    plain = dicom(folder, folder / "labels.csv", **kw)  # type: ignore[arg-type]
    assert data.fingerprint() != plain.fingerprint()  # another mask is another run
    torch.manual_seed(0)
    model = ModelAdapter(
        SmallCNN(1, 2, width=4), "binary", num_outputs=2, bounds=data.info.bounds, stages=data.info.stages
    )
    adv = tmp_path / "adv"
    results = medrobust.evaluate(model, data, ["pgd"], eps=[0, 30], bootstrap=0, write_adversarial=adv)
    for row in csv.DictReader((adv / "pgd-linf+quantised" / "30" / "index.csv").open()):
        i = int(results.clean.set_index("sample_id").loc[row["sample_id"], "sample"])
        change = pydicom.dcmread(adv / "pgd-linf+quantised" / "30" / row["file"]).pixel_array.astype(int)
        change -= pydicom.dcmread(folder / f"ct{i}.dcm").pixel_array.astype(int)
        inside = np.zeros((128, 128), bool)
        inside[40:60, 30 + 20 * i : 60 + 20 * i] = True
        assert not change[~inside].any() and np.abs(change).max() <= 30
    small = tmp_path / "small"
    small.mkdir()
    for i in range(2):
        ds = pydicom.dcmread(shipped("MR_small.dcm"))  # 64 x 64: not the CT's 128 x 128
        ds.save_as(small / f"ct{i}.dcm")
    with pytest.raises(DataError, match="mask of shape"):
        dicom(folder, folder / "labels.csv", mask=str(small), **kw)  # type: ignore[arg-type]
