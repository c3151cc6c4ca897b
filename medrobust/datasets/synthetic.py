"""Seeded synthetic medical-like images: smooth tissue texture, with or without findings.

Used by ``medrobust demo``, the tests and the examples. 2D or 3D, binary, multi-class
or multi-label, 8-bit quantised into ``[0, 1]`` like a real scan exported to PNG.
"""

from __future__ import annotations

import hashlib

import numpy as np

from medrobust.datasets.base import ArrayDataset, DataInfo
from medrobust.errors import ConfigError
from medrobust.heads import HeadKind

_LABELS = {
    HeadKind.BINARY: ("normal", "lesion"),
    HeadKind.MULTICLASS: ("normal", "round lesion", "elongated lesion", "ring lesion"),
    HeadKind.MULTILABEL: ("lesion", "calcification", "edema"),
}


def synthetic(
    n: int = 512,
    *,
    task: HeadKind | str = "binary",
    size: int = 28,
    spatial_dims: int = 2,
    channels: int = 1,
    seed: int = 0,
    sites: tuple[str, ...] = ("site-A", "site-B"),
) -> ArrayDataset:
    """``n`` seeded images with balanced labels and ``sex``/``site`` subgroup metadata."""
    kind = _check_options(n, task, size, spatial_dims, channels, seed)
    rng = np.random.default_rng(seed)
    shape = (size,) * spatial_dims
    tissue = _tissue(rng, n, shape)
    names = _LABELS[kind]
    if kind == HeadKind.MULTILABEL:
        labels = (rng.random((n, len(names))) < 0.4).astype(np.int64)
    else:
        labels = np.arange(n) % len(names)
        rng.shuffle(labels)
    images = tissue + np.stack([_findings(rng, shape, kind, labels[i]) for i in range(n)])
    images = np.round(np.clip(images, 0.0, 1.0) * 255) / 255
    images = np.repeat(images[:, None], channels, axis=1).astype(np.float32)
    meta = {
        "sex": list(rng.choice(["F", "M"], size=n)),
        "site": list(rng.choice(list(sites), size=n)),
    }
    key = f"synthetic:{kind.value}:{n}:{size}:{spatial_dims}:{channels}:{seed}"
    info = DataInfo(
        name=f"synthetic-{kind.value}-{spatial_dims}d",
        task=kind,
        label_names=names,
        bounds=(0.0, 1.0),
        spatial_dims=spatial_dims,
        extra={"generator": key},
    )
    ids = [f"syn-{hashlib.sha1(f'{key}:{i}'.encode()).hexdigest()[:10]}" for i in range(n)]
    return ArrayDataset(images, labels, info, meta=meta, ids=ids, source=key)


def _check_options(n: object, task: object, size: object, dims: object, channels: object, seed: object) -> HeadKind:
    """Refuse options that would fail deep in numpy (``-D n=0``, ``-D n=abc``) with a message naming the option."""
    minimum = {"n": (n, 1), "size": (size, 4), "channels": (channels, 1), "seed": (seed, 0)}
    for option, (value, low) in minimum.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ConfigError(f"synthetic data option {option} must be a whole number >= {low}, got {value!r}")
    if dims not in (2, 3) or isinstance(dims, bool):
        raise ConfigError(f"synthetic data option spatial_dims must be 2 or 3, got {dims!r}")
    try:
        return HeadKind(task)
    except ValueError:
        choices = ", ".join(k.value for k in HeadKind)
        raise ConfigError(f"synthetic data option task must be one of {choices}, got {task!r}") from None


def _tissue(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Low-pass filtered noise in [0.15, 0.6] plus fine speckle: a tissue-like texture."""
    noise = rng.standard_normal((n, *shape))
    freqs = np.meshgrid(*[np.fft.fftfreq(s) for s in shape], indexing="ij")
    radius2 = sum(f**2 for f in freqs)
    smooth = np.real(
        np.fft.ifftn(
            np.fft.fftn(noise, axes=range(1, len(shape) + 1)) * np.exp(-radius2 / 0.002), axes=range(1, len(shape) + 1)
        )
    )
    flat = smooth.reshape(n, -1)
    lo = flat.min(axis=1).reshape(-1, *([1] * len(shape)))
    hi = flat.max(axis=1).reshape(-1, *([1] * len(shape)))
    speckle = 0.03 * rng.standard_normal((n, *shape))
    return 0.15 + 0.45 * (smooth - lo) / (hi - lo + 1e-8) + speckle


def _findings(rng: np.random.Generator, shape: tuple[int, ...], kind: HeadKind, label: np.ndarray | int) -> np.ndarray:
    """Intensity added by the findings that ``label`` names."""
    grid = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij"))
    size = shape[0]
    out = np.zeros(shape)

    def blob(sigma: np.ndarray, amp: float, centre: np.ndarray | None = None) -> np.ndarray:
        if centre is None:
            centre = rng.uniform(size * 0.3, size * 0.7, size=len(shape)).reshape(-1, *([1] * len(shape)))
        d2 = (((grid - centre) / sigma.reshape(-1, *([1] * len(shape)))) ** 2).sum(0)
        return amp / (1 + np.exp((np.sqrt(d2) - 1) * 5))  # a disc of radius sigma, soft edge

    dims = len(shape)
    if kind == HeadKind.MULTILABEL:
        lesion, calc, edema = (int(v) for v in np.asarray(label).reshape(-1))
        if lesion:
            out += blob(np.full(dims, size * 0.08), 0.3)
        if calc:
            for _ in range(3):
                out += blob(np.full(dims, size * 0.04), 0.4)
        if edema:
            out += blob(np.full(dims, size * 0.3), 0.25)
        return out
    c = int(np.asarray(label).reshape(-1)[0])
    if c == 1:
        out += blob(np.full(dims, size * 0.08), 0.3)
    elif c == 2:
        sig = np.full(dims, size * 0.05)
        sig[rng.integers(dims)] = size * 0.22
        out += blob(sig, 0.3)
    elif c == 3:
        centre = rng.uniform(size * 0.35, size * 0.65, size=dims).reshape(-1, *([1] * dims))
        out += blob(np.full(dims, size * 0.16), 0.35, centre) - blob(np.full(dims, size * 0.08), 0.35, centre)
    return out
