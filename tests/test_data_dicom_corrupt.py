"""A corrupt JPEG 2000 DICOM: one clear error naming the file, the problem and pydicom's decoder plugins,
no traceback (pydicom's logged one included); with ``on_error=skip`` it is listed, its path hashed."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.datasets.dicom import dicom
from medrobust.datasets.dicom_pixels import quiet_pydicom, short_reason
from medrobust.errors import DataError

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.encaps import encapsulate, generate_frames  # noqa: E402
from pydicom.pixels import get_decoder  # noqa: E402

J2K = "MR_small_jp2klossless.dcm"
BAD = "Doevski^Janetta scan.dcm"  # a file named after the patient: the message shows it, the manifest does not


def _corrupt_j2k(path: Path) -> Path:
    """pydicom's JPEG 2000 test file with its codestream cut to a third: the header parses, the pixels do not."""
    ds = pydicom.dcmread(get_testdata_file(J2K))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    cut = frame[: len(frame) // 3]
    ds.PixelData = encapsulate([cut + b"\x00" * (len(cut) % 2)])
    ds.save_as(path, enforce_file_format=True)
    return path


def _study(root: Path) -> Path:
    root.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), root / name)
    _corrupt_j2k(root / BAD)
    labels = root.parent / "labels.csv"
    labels.write_text(f"file,label\nCT_small.dcm,0\nMR_small.dcm,1\n{BAD},0\n")
    return labels


def _expected_problem() -> list[str]:
    """What the message must say, by the JPEG 2000 decoder plugins pydicom finds installed here."""
    decoder = get_decoder(pydicom.dcmread(get_testdata_file(J2K)).file_meta.TransferSyntaxUID)
    if not decoder.available_plugins:
        return ["cannot decode its compressed pixel data (JPEG 2000", "no decoder plugin", "pylibjpeg-openjpeg"]
    parts = ["JPEG 2000 Image Compression (Lossless Only) pixel data could not be decoded", "corrupt or truncated"]
    parts += [f"tried: {', '.join(decoder.available_plugins)}", *decoder.missing_dependencies]
    return parts


def _args(root: Path, labels: Path, out: Path, *extra: str) -> list[str]:
    args = ["run", "--model", "smallcnn", "--random-init", "--num-classes", "2", "--data", "dicom"]
    args += ["-D", f"root={root}"]
    args += ["-D", f"labels={labels}", "-D", "size=28", "-D", "window=minmax", *extra, "--attack", "fgsm"]
    return [*args, "--eps", "0,2/255", "--bootstrap", "0", "--device", "cpu", "--out", str(out), "--quiet"]


def test_corrupt_jpeg2000_is_one_line_naming_file_and_plugins(tmp_path: Path) -> None:
    labels = _study(tmp_path / "study")
    cli = "from medrobust.cli import main; main()"
    args = _args(tmp_path / "study", labels, tmp_path / "out")
    result = subprocess.run([sys.executable, "-c", cli, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"medrobust: error: {tmp_path / 'study' / BAD}: ")
    missing = [part for part in _expected_problem() if part not in lines[0]]
    assert not missing, f"{missing} not in {lines[0]!r}"
    assert "object at 0x" not in lines[0]


def test_corrupt_jpeg2000_is_skipped_and_listed_with_its_path_hashed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    labels = _study(tmp_path / "study")
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG, logger="pydicom"):
        result = CliRunner().invoke(main, _args(tmp_path / "study", labels, out, "-D", "on_error=skip"))
        assert logging.getLogger("pydicom").level == logging.DEBUG  # the silencing was undone
    assert result.exit_code == 0, result.output
    assert not [r for r in caplog.records if r.name.startswith("pydicom") and r.levelno >= logging.ERROR]
    skipped = json.loads((out / "manifest.json").read_text())["data"]["skipped"]
    assert len(skipped) == 1, skipped
    assert skipped[0]["source"].startswith("path-") and skipped[0]["source"].endswith(".dcm")
    assert "Doevski" not in json.dumps(skipped)
    assert all(part in skipped[0]["problem"] for part in _expected_problem()), skipped[0]["problem"]


def test_python_api_raises_a_data_error_naming_the_file(tmp_path: Path) -> None:
    labels = _study(tmp_path / "study")
    with pytest.raises(DataError) as info:
        dicom(tmp_path / "study", labels, window="minmax", size=28)
    assert info.value.source == str(tmp_path / "study" / BAD)
    assert all(part in info.value.problem for part in _expected_problem()), info.value.problem


def test_quiet_pydicom_nests_and_restores_the_level() -> None:
    logger = logging.getLogger("pydicom")
    before = logger.level
    with quiet_pydicom():
        with quiet_pydicom():
            assert not logger.isEnabledFor(logging.CRITICAL)
        assert not logger.isEnabledFor(logging.CRITICAL)
    assert logger.level == before
    preamble = "Unable to decode as exceptions were raised by all available plugins:"
    noisy = RuntimeError(f"{preamble}\n  pillow: cannot identify image file <_io.BytesIO object at 0x7fab>")
    assert short_reason(noisy) == "pillow: cannot identify image file"
