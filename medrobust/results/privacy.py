"""Privacy at the results boundary: file paths that reach a results file become short hashes.

Medical files often live in folders named after the patient (``PatientID/Study/...``), so
the skipped-inputs list in the manifest keeps the problem but not the path; the log of
the run still names the full path for whoever ran it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

_PATH = re.compile(r"[^\s'\"()\[\]{},;]*[/\\][^\s'\"()\[\]{},;]*")
_FILE = re.compile(
    r"[^\s'\"()\[\]{},;:/\\]+\.(?:dcm|dicom|ima|nii(?:\.gz)?|gz|mha|mhd|nrrd|png|jpe?g|tiff?|bmp|npz|npy|pt|pth)\b",
    re.IGNORECASE,
)  # a bare file name (``JohnSmith.dcm``) names a patient as well as a path does
PATH_KEYS = frozenset({"root", "labels", "weights", "path", "paths", "dir", "folder", "file", "files", "out"})
"""Configuration keys whose values are paths: hashed whole, whatever they look like."""
_SUFFIX = re.compile(r"\.[a-z0-9]{1,4}$")


def path_token(path: str) -> str:
    """``path-<sha256[:10]>`` plus the file's last suffix (``.dcm``): stable, not identifying."""
    suffix = _SUFFIX.search(path.lower())
    return f"path-{hashlib.sha256(path.encode()).hexdigest()[:10]}{suffix.group(0) if suffix else ''}"


def redact_paths(text: str) -> str:
    """Replace every path-like token (containing ``/`` or ``\\``) in ``text`` with :func:`path_token`."""
    text = _PATH.sub(lambda m: path_token(m.group(0)), text)
    return _FILE.sub(lambda m: m.group(0) if m.group(0).startswith("path-") else path_token(m.group(0)), text)


def private_name(name: str) -> str:
    """A dataset name for the results: ``dicom:<root folder>`` becomes ``dicom:path-<hash>``.

    File readers name a dataset after its folder, which may be a patient's name; names without
    a ``kind:`` prefix (``synthetic-binary-2d``, ``pneumoniamnist-test``) are kept.
    """
    kind, sep, rest = name.partition(":")
    if not sep or rest.startswith("path-"):
        return name  # a name given in code (``ArrayDataset``), not a folder's
    return f"{kind}:{path_token(rest)}"


def private_config(value: Any, key: str = "") -> Any:
    """A configuration with path values hashed (:data:`PATH_KEYS` whole, path-like text anywhere)."""
    if isinstance(value, Mapping):
        return {str(k): private_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [private_config(v, key) for v in value]
    if isinstance(value, str):
        return path_token(value) if key.lower() in PATH_KEYS else redact_paths(value)
    return value


def private_skipped(skipped: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The skipped-inputs list with every path hashed, for the run manifest."""
    return [{str(k): redact_paths(str(v)) for k, v in entry.items()} for entry in skipped]
