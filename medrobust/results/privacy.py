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

_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")  # repr() quotes paths, spaces and all
_PATH = re.compile(r"[^\s'\"()\[\]{},;]*[/\\][^\s'\"()\[\]{},;]*")
_FILE = re.compile(
    r"[^\s'\"()\[\]{},;:/\\]+\.(?:dcm|dicom|ima|nii(?:\.gz)?|gz|mha|mhd|nrrd|png|jpe?g|tiff?|bmp|npz|npy|pt|pth)\b",
    re.IGNORECASE,
)  # a bare file name (``JohnSmith.dcm``) names a patient as well as a path does
PATH_KEYS = frozenset({"root", "labels", "weights", "path", "paths", "dir", "folder", "file", "files", "out"})
"""Configuration keys whose values are paths: hashed whole, whatever they look like."""
_SUFFIX = re.compile(r"\.[a-z0-9]{1,4}$")
_SOURCE = re.compile(r"(?P<pre>the series of )?(?P<path>.*?)(?P<row> row \d+)?", re.DOTALL)


def path_token(path: str) -> str:
    """``path-<sha256[:10]>`` plus the file's last suffix (``.dcm``): stable, not identifying."""
    suffix = _SUFFIX.search(path.lower())
    return f"path-{hashlib.sha256(path.encode()).hexdigest()[:10]}{suffix.group(0) if suffix else ''}"


def redact_paths(text: str) -> str:
    """Replace every path-like token (containing ``/`` or ``\\``) in ``text`` with :func:`path_token`.

    A quoted path (``'Jane Doe/scan 1.png'``) is hashed whole, so no word of a name with spaces is left.
    """
    text = _QUOTED.sub(_quoted_path, text)
    text = _PATH.sub(lambda m: path_token(m.group(0)), text)
    return _FILE.sub(lambda m: m.group(0) if m.group(0).startswith("path-") else path_token(m.group(0)), text)


def _quoted_path(match: re.Match[str]) -> str:
    """A quoted span as one :func:`path_token` when it holds a path or a file name; else unchanged."""
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    if inner.startswith("path-") or not ("/" in inner or "\\" in inner or _FILE.search(inner)):
        return match.group(0)
    quote = match.group(0)[0]
    return f"{quote}{path_token(inner)}{quote}"


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


def private_source(source: str) -> tuple[str, str]:
    """The path a skipped input's ``source`` names and the source with it hashed whole.

    Sources are a file's path, ``<labels.csv> row N`` or ``the series of <labels.csv> row N``;
    hashing the path whole leaves no word of a folder or file name with spaces behind.
    """
    match = _SOURCE.fullmatch(source)
    if match is None or not match.group("path"):
        return "", redact_paths(source)
    path = match.group("path")
    return path, f"{match.group('pre') or ''}{path_token(path)}{match.group('row') or ''}"


def private_skipped(skipped: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The skipped-inputs list with every path hashed (the source's path wherever it recurs), for the manifest."""
    out = []
    for entry in skipped:
        path, source = private_source(str(entry.get("source", "")))
        row = {
            str(k): redact_paths(str(v).replace(path, path_token(path)) if path else str(v)) for k, v in entry.items()
        }
        out.append({**row, "source": source} if "source" in entry else row)
    return out
