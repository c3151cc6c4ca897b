"""MedMNIST on the real shared files: 2D grey, 2D RGB, 3D at 28 and 64, the modified PneumoniaMNIST."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.datasets.medmnist import TASKS, medmnist
from medrobust.datasets.medmnist_info import SIZES_2D, SIZES_3D, SUBSETS
from medrobust.datasets.registry import build_dataset
from medrobust.engine.evaluate import evaluate
from medrobust.errors import ConfigError, DataError
from medrobust.heads import HeadKind, make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["run", *args, "--quiet", "--device", "cpu", "--bootstrap", "0", "--attack", "fgsm"]
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("subset", "size", "shape", "task", "counts"),
    [
        ("breastmnist", 28, (1, 28, 28), HeadKind.BINARY, [42, 114]),
        ("retinamnist", 28, (3, 28, 28), HeadKind.MULTICLASS, [174, 46, 92, 68, 20]),
        ("adrenalmnist3d", 28, (1, 28, 28, 28), HeadKind.BINARY, [229, 69]),
        ("adrenalmnist3d", 64, (1, 64, 64, 64), HeadKind.BINARY, [229, 69]),
    ],
)
def test_official_files_load_with_verified_checksum(
    medmnist_root: Path, subset: str, size: int, shape: tuple[int, ...], task: HeadKind, counts: list[int]
) -> None:
    data = medmnist(subset, root=medmnist_root, size=size, split="test")
    image, label, meta = data[0]
    assert tuple(image.shape) == shape and image.dtype == torch.float32
    assert data.info.task == task and data.info.spatial_dims == len(shape) - 1
    assert data.info.extra["checksum"] == "verified"
    assert len(data) == SUBSETS[subset].n_samples["test"]
    assert np.bincount(data.labels(), minlength=len(counts)).tolist() == counts
    assert meta == {} and label.ndim == 0
    with np.load(medmnist_root / SUBSETS[subset].file_name(size)) as z:
        raw = z["test_images"][7]
    expected = torch.from_numpy(raw).float() / 255
    expected = expected.permute(2, 0, 1) if raw.ndim == 3 and raw.shape[-1] == 3 else expected[None]
    assert torch.equal(data[7][0], expected)


def test_retinamnist_ordinal_grades_are_classes(medmnist_root: Path) -> None:
    data = medmnist("retinamnist", root=medmnist_root, split="val")
    assert data.info.task == HeadKind.MULTICLASS and data.info.label_names == ("0", "1", "2", "3", "4")
    assert data.info.extra["medmnist_task"] == "ordinal-regression"
    assert len(data) == 120


def test_modified_pneumoniamnist_needs_explicit_checksum_opt_out(medmnist_root: Path) -> None:
    with pytest.raises(DataError, match=r"does not match the official 28209eda62fecd6e6a2d98b1501bb15f.*skip_checksum"):
        medmnist("pneumoniamnist", root=medmnist_root)
    data = medmnist("pneumoniamnist", root=medmnist_root, skip_checksum=True)
    assert len(data) == 624 and np.bincount(data.labels()).tolist() == [234, 390]
    assert data.info.extra["checksum"].startswith("skipped")
    assert data.info.extra["md5"] == "f5b994ec7c2fe8bc81ae15cbab7c3df8"


def test_subset_is_stratified_seeded_and_fingerprinted(medmnist_root: Path) -> None:
    data = medmnist("breastmnist", root=medmnist_root)
    a, b, c = data.subset(40, seed=1), data.subset(40, seed=1), data.subset(40, seed=2)
    assert a.labels().tolist() == b.labels().tolist() and np.bincount(a.labels()).tolist() == [11, 29]
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert data.fingerprint() != medmnist("breastmnist", root=medmnist_root, split="val").fingerprint()
    assert a.sample_id(0).startswith("breastmnist-test-")


def test_metadata_table_covers_every_subset_and_size() -> None:
    assert len(SUBSETS) == 18
    for info in SUBSETS.values():
        assert info.sizes == (SIZES_2D if info.spatial_dims == 2 else SIZES_3D)
        assert all(len(m) == 32 and int(m, 16) >= 0 for m in info.md5.values())
        assert info.task in TASKS and len(info.labels) >= 2 and info.channels in (1, 3)
    assert SUBSETS["chestmnist"].task == "multi-label" and len(SUBSETS["chestmnist"].labels) == 14
    assert SUBSETS["pathmnist"].file_name(224) == "pathmnist_224.npz"
    assert SUBSETS["pathmnist"].url(28) == "https://zenodo.org/records/10519652/files/pathmnist.npz?download=1"


def test_download_fetches_from_a_mirror_and_checks_md5(medmnist_root: Path, tmp_path: Path) -> None:
    mirror = medmnist_root.as_uri()  # file:// URL: no network
    data = medmnist("breastmnist", root=tmp_path, download=True, mirror=mirror)
    assert (tmp_path / "breastmnist.npz").is_file() and len(data) == 156
    with pytest.raises(DataError, match="not the official"):
        medmnist("pneumoniamnist", root=tmp_path, download=True, mirror=mirror)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breastmnist.npz"]  # nothing partial left
    assert len(medmnist("pneumoniamnist", root=tmp_path, download=True, mirror=mirror, skip_checksum=True)) == 624


def test_missing_corrupt_and_misnamed_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="download=True"):
        medmnist("breastmnist", root=tmp_path)
    (tmp_path / "breastmnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="MD5"):
        medmnist("breastmnist", root=tmp_path)
    with pytest.raises(DataError, match=r"breastmnist\.npz: not a readable \.npz"):
        medmnist("breastmnist", root=tmp_path, skip_checksum=True)
    with pytest.raises(ConfigError, match="unknown MedMNIST subset"):
        medmnist("nosuchmnist", root=tmp_path)
    with pytest.raises(ConfigError, match="sizes 28, 64"):
        medmnist("adrenalmnist3d", root=tmp_path, size=128)
    with pytest.raises(ConfigError, match="split"):
        medmnist("breastmnist", root=tmp_path, split="dev")


def test_wrong_layout_and_labels_are_named(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "breastmnist.npz",
        test_images=np.zeros((4, 28, 28, 3), np.uint8),
        test_labels=np.zeros((4, 1), np.uint8),
    )
    with pytest.raises(DataError, match=r"\[test\]: images of shape"):
        medmnist("breastmnist", root=tmp_path, skip_checksum=True)
    np.savez(
        tmp_path / "breastmnist.npz",
        test_images=np.zeros((4, 28, 28), np.uint8),
        test_labels=np.array([[0], [1], [2], [1]], np.uint8),
    )
    with pytest.raises(DataError, match="label 2, outside the declared classes"):
        medmnist("breastmnist", root=tmp_path, skip_checksum=True)
    with pytest.raises(DataError, match="has no val_images"):
        medmnist("breastmnist", root=tmp_path, split="val", skip_checksum=True)


def test_multilabel_subset_keeps_one_column_per_finding(tmp_path: Path) -> None:
    labels = (np.arange(5 * 14).reshape(5, 14) % 3 == 0).astype(np.uint8)
    np.savez(tmp_path / "chestmnist_64.npz", val_images=np.zeros((5, 64, 64), np.uint8), val_labels=labels)
    data = medmnist("chestmnist", root=tmp_path, split="val", size=64, skip_checksum=True)
    assert data.info.task == HeadKind.MULTILABEL and data.info.num_classes == 14
    assert data.labels().shape == (5, 14) and data[1][1].tolist() == labels[1].tolist()
    assert data[0][0].shape == (1, 64, 64)


def test_registry_builds_medmnist(medmnist_root: Path) -> None:
    data = build_dataset("medmnist", subset="breastmnist", root=str(medmnist_root), split="val")
    assert len(data) == 78
    with pytest.raises(ConfigError, match="medmnist"):
        build_dataset("medmnist", subset="breastmnist", colour="yes")


def test_cli_run_on_medmnist_3d(medmnist_root: Path, tmp_path: Path) -> None:
    code, output = run_cli(
        "--data",
        "medmnist",
        "-D",
        "subset=adrenalmnist3d",
        "-D",
        f"root={medmnist_root}",
        "-D",
        "split=test",
        "--model",
        "smallcnn",
        "--random-init",
        "--num-classes",
        "2",
        "--spatial-dims",
        "3",
        "--eps",
        "0,2/255",
        "--n",
        "6",
        "--out",
        str(tmp_path),
    )
    assert code == 0, output
    assert "fgsm-linf" in output and (tmp_path / "summary.json").is_file()


def test_evaluate_on_rgb_ordinal_medmnist(medmnist_root: Path) -> None:
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(3, 5), make_head("multiclass", 5), bounds=(0.0, 1.0), input_shape=(3, 28, 28))
    results = evaluate(
        model, medmnist("retinamnist", root=medmnist_root), attacks=["fgsm"], eps=[0, "2/255"], n=10, bootstrap=0
    )
    assert results.summary["n"] == 10 and results.manifest["data"]["extra"]["checksum"] == "verified"
    assert results.summary["label_names"] == ["0", "1", "2", "3", "4"]


def test_cli_yaml_config_and_checksum_opt_out(medmnist_root: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        f"data: {{kind: medmnist, subset: pneumoniamnist, root: '{medmnist_root}', split: test}}\n"
        "model: {kind: smallcnn, num_classes: 2, random_init: true}\neps: [0, 2/255]\nn: 6\n"
    )
    code, output = run_cli("-c", str(config), "--out", str(tmp_path / "a"))
    assert code == 2 and "skip_checksum" in output
    code, output = run_cli("-c", str(config), "-D", "skip_checksum=true", "--out", str(tmp_path / "b"))
    assert code == 0, output
    manifest = (tmp_path / "b" / "manifest.json").read_text()
    assert "skipped: MD5 does not match" in manifest
