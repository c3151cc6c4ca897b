"""Image folders built in tmp_path: class subfolders, labels CSVs (multi-label too), bad files, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from medrobust.cli.commands import main
from medrobust.datasets.folder import folder
from medrobust.datasets.registry import build_dataset
from medrobust.engine.evaluate import evaluate
from medrobust.errors import ConfigError, DataError
from medrobust.heads import make_head
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN


def grey(path: Path, value: int, size: int = 20) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = ((np.arange(size * size).reshape(size, size) + value) % 256).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return pixels


@pytest.fixture()
def classes(tmp_path: Path) -> Path:
    """``benign`` (3 images) and ``malignant`` (2 images) subfolders of grey PNGs, plus a README."""
    root = tmp_path / "images"
    for i in range(3):
        grey(root / "benign" / f"b{i}.png", 10 * i)
    for i in range(2):
        grey(root / "malignant" / "sub" / f"m{i}.png", 100 + i)
    (root / "README.txt").write_text("not a sample")
    return root


def test_class_subfolders(classes: Path) -> None:
    data = folder(classes)
    assert len(data) == 5 and data.info.label_names == ("benign", "malignant") and data.info.task.value == "binary"
    assert data.labels().tolist() == [0, 0, 0, 1, 1]
    image = data[1][0]
    expected = ((np.arange(400).reshape(20, 20) + 10) % 256) / 255
    assert image.shape == (1, 20, 20)
    np.testing.assert_allclose(image[0].numpy(), expected, atol=1e-7)
    ordered = folder(classes, label_names=["malignant", "benign"])
    assert ordered.labels().tolist() == [1, 1, 1, 0, 0]
    assert folder(classes, size=8, channels=3)[0][0].shape == (3, 8, 8)


def test_colour_jpeg_and_16_bit_png(tmp_path: Path) -> None:
    rgb = np.zeros((12, 12, 3), np.uint8)
    rgb[..., 0] = 200
    (tmp_path / "a").mkdir()
    Image.fromarray(rgb).save(tmp_path / "a" / "x.jpg")
    Image.fromarray(rgb).save(tmp_path / "a" / "y.png")
    (tmp_path / "b").mkdir()
    Image.fromarray(rgb[..., ::-1].copy()).save(tmp_path / "b" / "z.png")
    data = folder(tmp_path)
    assert data[0][0].shape == (3, 12, 12)
    assert abs(float(data[0][0][0].mean()) - 200 / 255) < 0.02  # lossy JPEG, red channel
    assert torch.equal(data[1][0][0], torch.full((12, 12), 200 / 255))
    deep = tmp_path / "deep"
    (deep / "c0").mkdir(parents=True)
    (deep / "c1").mkdir()
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(deep / "c0" / "w.png")
    Image.fromarray(np.full((8, 8), 0, np.uint16)).save(deep / "c1" / "k.png")
    data16 = folder(deep)
    assert float(data16[0][0].max()) == 1.0 and float(data16[1][0].max()) == 0.0


def test_labels_csv_multilabel_with_subgroups(tmp_path: Path) -> None:
    for i in range(4):
        grey(tmp_path / "img" / f"{i}.png", i)
    (tmp_path / "l.csv").write_text(
        "file,effusion,edema,nodule,site,patient_id\n"
        "img/0.png,1,0,0,A,p1\nimg/1.png,0,1,1,B,p2\nimg/2.png,0,0,0,A,p3\nimg/3.png,1,1,1,B,p4\n"
    )
    data = folder(tmp_path, labels=tmp_path / "l.csv", label_columns=["effusion", "edema", "nodule"])
    assert data.info.task.value == "multilabel" and data.info.label_names == ("effusion", "edema", "nodule")
    assert data.labels().tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 1]]
    assert data[1][2] == {"site": "B"}  # patient_id is never kept
    model = ModelAdapter(SmallCNN(1, 3), make_head("multilabel", 3), bounds=(0.0, 1.0), input_shape=(1, 20, 20))
    results = evaluate(model, data, attacks=["fgsm"], eps=[0, "2/255"], subgroups=["site"], bootstrap=0)
    groups = results.summary["subgroups"]["site"]["groups"]
    assert set(groups) == {"A", "B"} and groups["A"]["n"] == 2


def test_class_names_in_a_csv(tmp_path: Path) -> None:
    for i in range(3):
        grey(tmp_path / f"{i}.png", i)
    (tmp_path / "l.csv").write_text("file,label\n0.png,pneumonia\n1.png,normal\n2.png,covid\n")
    data = folder(tmp_path, labels=tmp_path / "l.csv")
    assert data.info.label_names == ("covid", "normal", "pneumonia") and data.info.task.value == "multiclass"
    assert data.labels().tolist() == [2, 1, 0]


def test_bad_inputs_are_named(classes: Path) -> None:
    (classes / "benign" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.txt: not a readable image file"):
        folder(classes)
    skipped = folder(classes, on_error="skip")
    assert len(skipped) == 5 and skipped.skipped[0]["source"].endswith("notes.txt")
    (classes / "benign" / "notes.txt").unlink()
    grey(classes / "benign" / "big.png", 0, size=24)
    with pytest.raises(DataError, match=r"big\.png: image shape \(1, 24, 24\) differs .* set size="):
        folder(classes)
    assert len(folder(classes, size=20)) == 6
    with pytest.raises(DataError, match=r"folder 'malignant' is not one of the declared classes"):
        folder(classes, label_names=["benign", "normal"])
    (classes / "l.csv").write_text("file,label\nbenign/b0.png,0\nbenign/gone.png,1\n")
    with pytest.raises(DataError, match=r"l\.csv row 3: names file 'benign/gone\.png', which does not exist"):
        folder(classes, labels=classes / "l.csv", label_names=["a", "b"])
    (classes / "l.csv").write_text("file,label\nbenign/b0.png,0\nbenign/gone.png,1\nbenign/b1.png,5\n")
    with pytest.raises(DataError, match=r"l\.csv row 4: label '5' is outside the declared classes"):
        folder(classes, labels=classes / "l.csv", label_names=["a", "b"])
    data = folder(classes, labels=classes / "l.csv", label_names=["a", "b"], on_error="skip")
    assert len(data) == 1 and sorted(s["source"][-11:] for s in data.skipped) == ["l.csv row 3", "l.csv row 4"]
    with pytest.raises(DataError, match="image folder not found"):
        folder(classes / "nope")
    with pytest.raises(ConfigError, match="channels"):
        folder(classes, channels=2)
    with pytest.raises(ConfigError, match="on_error"):
        folder(classes, on_error="ignore")


def test_cli_run_on_folder(classes: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--data",
            "folder",
            "-D",
            f"root={classes}",
            "-D",
            "size=16",
            "--model",
            "smallcnn",
            "--random-init",
            "--num-classes",
            "2",
            "--attack",
            "fgsm",
            "--eps",
            "0,2/255",
            "--bootstrap",
            "0",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(build_dataset("folder", root=str(classes))) == 5
