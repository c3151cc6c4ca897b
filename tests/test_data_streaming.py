"""File datasets stream by default: no decoded image is kept unless a cache, within its byte budget, is asked for."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pydicom.data import get_testdata_file
from torch.utils.data import DataLoader

from medrobust.datasets.base import collate
from medrobust.datasets.dicom import dicom
from medrobust.datasets.folder import folder
from medrobust.errors import ConfigError, DataError

N, SIDE = 6, 16
IMAGE_BYTES = SIDE * SIDE * 4  # one grey float32 image


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(N):
        (tmp_path / f"c{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8), mode="L").save(
            tmp_path / f"c{i % 2}" / f"{i}.png"
        )
    return tmp_path


def tensors_held(obj: Any, seen: set[int] | None = None) -> int:
    """How many tensors with at least one pixel are reachable from ``obj``'s attributes and containers."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, str | bytes | int | float | Path | np.ndarray):
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return int(obj.numel() > 1)
    if isinstance(obj, dict):
        return sum(tensors_held(v, seen) for v in obj.values())
    if isinstance(obj, list | tuple | set):
        return sum(tensors_held(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return sum(tensors_held(v, seen) for v in vars(obj).values())
    return 0


def test_streaming_is_the_default_and_keeps_no_pixels(root: Path) -> None:
    data = folder(root)
    assert data.cached_bytes == 0 and data.images == [] and tensors_held(data) == 0
    batches = list(DataLoader(data, batch_size=4, collate_fn=collate))
    assert sum(len(b[1]) for b in batches) == N
    assert data.cached_bytes == 0 and tensors_held(data) == 0  # still nothing after a full pass


def test_byte_budget_is_never_exceeded_and_pixels_are_the_same(root: Path) -> None:
    stream = folder(root)
    budget = 3 * IMAGE_BYTES + IMAGE_BYTES // 2
    capped = folder(root, cache_bytes=budget)
    full = folder(root, cache=True)
    assert 0 < capped.cached_bytes <= budget and len(capped.images) == 3
    assert full.cached_bytes == N * IMAGE_BYTES and len(full.images) == N
    assert folder(root, cache=True, cache_bytes=0).cached_bytes == 0
    for i in range(-1, N):
        assert torch.equal(stream[i][0], capped[i][0]) and torch.equal(stream[i][0], full[i][0])
        assert stream[i][2] == full[i][2] and int(stream[i][1]) == int(full[i][1])
    assert capped.cached_bytes <= budget
    assert stream.fingerprint() == capped.fingerprint() == full.fingerprint()


def test_streamed_samples_survive_pickling_for_workers(root: Path) -> None:
    data = folder(root)
    copy = pickle.loads(pickle.dumps(data))
    assert all(torch.equal(data[i][0], copy[i][0]) for i in range(N))


def test_files_are_read_on_each_access(root: Path) -> None:
    data = folder(root)
    path = root / "c0" / "0.png"
    Image.fromarray(np.zeros((SIDE, SIDE), np.uint8), mode="L").save(path)
    assert float(data[0][0].max()) == 0.0  # the new content, not a cached copy
    Image.fromarray(np.zeros((SIDE + 2, SIDE), np.uint8), mode="L").save(path)
    with pytest.raises(DataError, match=r"0\.png: now reads as shape"):
        data[0]


@pytest.mark.parametrize("bad", [{"cache_bytes": -1}, {"cache_bytes": 1.5}, {"cache": "yes"}])
def test_bad_cache_options(root: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="cache"):
        folder(root, **bad)


def test_dicom_streams_too(tmp_path: Path) -> None:
    ct = get_testdata_file("CT_small.dcm")
    assert ct is not None
    shutil.copy(ct, tmp_path / "ct.dcm")
    (tmp_path / "l.csv").write_text("file,label\nct.dcm,0\nct.dcm,1\n")
    stream = dicom(tmp_path, tmp_path / "l.csv", window="lung")
    cached = dicom(tmp_path, tmp_path / "l.csv", window="lung", cache_bytes=10**9)
    assert stream.cached_bytes == 0 and cached.cached_bytes > 0 and torch.equal(stream[1][0], cached[1][0])
    assert stream.fingerprint() == cached.fingerprint()
