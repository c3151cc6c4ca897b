"""Input policies: bad files (stop at the first, or skip and list it) and file access confined to ``root``.

Every path a reader opens is resolved (symlinks followed) first: a labels CSV naming
``../../etc/passwd``, an absolute path elsewhere, or a symlinked file or folder leading out
of ``root`` is refused with a :class:`DataError`, whatever ``on_error`` says, unless the
user opts out with ``allow_outside_root=True``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Literal

from medrobust.errors import ConfigError, DataError

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
UID_PATTERN = re.compile(r"\d+(?:\.\d+){3,}")


def scrub(text: str) -> str:
    """Replace DICOM-UID-like tokens (``1.2.840.…``) with a short hash, so lists carry no UIDs."""
    return UID_PATTERN.sub(lambda m: "uid-" + hashlib.sha256(m.group(0).encode()).hexdigest()[:10], text)


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


class Confinement:
    """Checks that paths resolve inside ``root``; ``allow_outside_root`` turns the check off (logged once)."""

    def __init__(self, root: Path, *, allow_outside_root: bool = False) -> None:
        self.root = root
        self.allow_outside_root = bool(allow_outside_root)
        self._resolved = root.resolve()
        self._warned = False

    def check(self, path: Path, *, source: str, named: str | None = None) -> Path:
        """``path`` if it resolves inside root, else a :class:`DataError` for ``source`` (the CSV row or file)."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable folder
            raise DataError(source, f"path {named or str(path)!r} cannot be resolved ({type(exc).__name__})") from None
        if resolved.is_relative_to(self._resolved):
            return path
        if self.allow_outside_root:
            if not self._warned:
                log.warning("%s: reading files outside root (allow_outside_root=true)", self.root)
                self._warned = True
            return path
        what = f"names {named!r}, which" if named is not None else "is a link that"
        raise DataError(
            source,
            f"{what} leads outside root {self.root} (symlinks followed); files are read only under root "
            "(set allow_outside_root=true to read it anyway)",
        )
