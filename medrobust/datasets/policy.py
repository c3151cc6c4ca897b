"""The bad-file policy: stop at the first bad file, or skip it and list it for the manifest."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Literal

from medrobust.errors import ConfigError, DataError

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
_UID = re.compile(r"\d+(?:\.\d+){3,}")


def scrub(text: str) -> str:
    """Replace DICOM-UID-like tokens (``1.2.840.…``) with a short hash, so lists carry no UIDs."""
    return _UID.sub(lambda m: "uid-" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10], text)


class BadFiles:
    """Collects bad inputs: raises :class:`DataError` (``raise``) or records them (``skip``)."""

    def __init__(self, on_error: str = "raise") -> None:
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[dict[str, str]] = []

    def report(self, source: str, problem: str) -> None:
        """Handle one bad input: raise, or log and list it (UID-like tokens hashed)."""
        if self.on_error == "raise":
            raise DataError(source, problem)
        entry = {"source": scrub(source), "problem": scrub(problem)}
        log.warning("skipping %s: %s", entry["source"], entry["problem"])
        self.skipped.append(entry)

    def catch(self, exc: DataError) -> None:
        """Handle a :class:`DataError` raised while reading one input."""
        if self.on_error == "raise":
            raise exc
        self.report(exc.source, exc.problem)
