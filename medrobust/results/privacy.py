"""Privacy at the results boundary: file paths that reach a results file become short hashes.

Medical files often live in folders named after the patient (``PatientID/Study/...``), so
the skipped-inputs list in the manifest keeps the problem but not the path; the log of
the run still names the full path for whoever ran it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

_PATH = re.compile(r"[^\s'\"()\[\]{},;]*[/\\][^\s'\"()\[\]{},;]*")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,4}$")


def path_token(path: str) -> str:
    """``path-<sha256[:10]>`` plus the file's last suffix (``.dcm``): stable, not identifying."""
    suffix = _SUFFIX.search(path.lower())
    return f"path-{hashlib.sha256(path.encode()).hexdigest()[:10]}{suffix.group(0) if suffix else ''}"


def redact_paths(text: str) -> str:
    """Replace every path-like token (containing ``/`` or ``\\``) in ``text`` with :func:`path_token`."""
    return _PATH.sub(lambda m: path_token(m.group(0)), text)


def private_skipped(skipped: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The skipped-inputs list with every path hashed, for the run manifest."""
    return [{str(k): redact_paths(str(v)) for k, v in entry.items()} for entry in skipped]
