"""Decoding DICOM pixel data: every failure becomes one clear :class:`DataError`, without pydicom's traceback.

pydicom logs each failing decoder plugin's traceback on its ``pydicom`` logger before it raises;
the decode runs with that logger silenced, and the error says what failed and which decoder
plugins pydicom has (or lacks) for the file's transfer syntax, read from pydicom's own
decoder registry rather than guessed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder

from medrobust.errors import DataError

CODECS_EXTRA = "pip install 'medrobust[dicom-codecs]'"
"""Installs pylibjpeg with its libjpeg, openjpeg and RLE plugins."""
PYDICOM_LOGGER = "pydicom"
_OBJECT = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>")  # ``<_io.BytesIO object at 0x7f...>``
_MAX_REASON = 300
_lock = threading.Lock()
_depth = 0
_saved_level = logging.NOTSET


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Silence the ``pydicom`` logger (and its children) for the block; nested and threaded uses are safe."""
    global _depth, _saved_level
    logger = logging.getLogger(PYDICOM_LOGGER)
    with _lock:
        if _depth == 0:
            _saved_level = logger.level
            logger.setLevel(logging.CRITICAL + 1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                logger.setLevel(_saved_level)


def decode_pixels(ds: Dataset, source: str) -> np.ndarray:
    """``ds.pixel_array`` with pydicom's logging silenced; any failure is a :class:`DataError` for ``source``."""
    try:
        with quiet_pydicom():
            return np.asarray(ds.pixel_array)
    except Exception as exc:  # decoders raise RuntimeError, ValueError, NotImplementedError, OSError, ...
        raise DataError(source, pixel_problem(ds, exc)) from None


def pixel_problem(ds: Dataset, exc: Exception) -> str:
    """What went wrong decoding ``ds``: a missing decoder plugin (named), or compressed or raw data that is corrupt."""
    reason = short_reason(exc)
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        compressed = syntax is not None and syntax.is_transfer_syntax and syntax.is_compressed
    except ValueError:  # a private transfer syntax
        compressed = True
    if not compressed or syntax is None:
        return f"pixel data is truncated or corrupt ({type(exc).__name__}: {reason})"
    name = str(syntax.name) if syntax.name != str(syntax) else f"transfer syntax {syntax}"
    try:
        decoder = get_decoder(syntax)
    except (NotImplementedError, ValueError):
        return f"cannot decode its compressed pixel data ({name}): pydicom has no decoder for it ({reason})"
    available, missing = decoder.available_plugins, decoder.missing_dependencies
    others = "; ".join(missing)
    if not available:
        return (
            f"cannot decode its compressed pixel data ({name}): no decoder plugin for it is installed; "
            f"pydicom can use {others or 'none'} ({CODECS_EXTRA} installs the pylibjpeg ones)"
        )
    hint = f"; if the file is intact, another decoder pydicom supports may read it: {others} ({CODECS_EXTRA})"
    return (
        f"{name} pixel data could not be decoded (corrupt or truncated?): {reason} "
        f"(decoder plugins tried: {', '.join(available)}){hint if others else ''}"
    )


def short_reason(exc: Exception) -> str:
    """pydicom's message on one line, without its preamble and object addresses, at most a few hundred characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Unable to "):
        lines = lines[1:]  # "Unable to decode as exceptions were raised by all available plugins:"
    text = re.sub(r" {2,}", " ", _OBJECT.sub("", "; ".join(lines))).replace(" ;", ";").strip() or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."
