"""Labels CSVs: one row per sample naming its file (or UID), its label(s) and subgroup columns.

Shared by the DICOM, NIfTI and image-folder readers. Class labels may be names or
indices; several 0/1 label columns make a multi-label task. Metadata is kept by
allow-list: declared ``meta_columns`` (refused when they look identifying) or the known
clinical columns of :mod:`medrobust.datasets.identifiers`; every other column is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medrobust.datasets.identifiers import (
    annex_e_keyword,
    identifying_value,
    is_clinical,
    looks_identifying,
    normalize_column,
)
from medrobust.datasets.policy import BadFiles
from medrobust.errors import ConfigError, DataError
from medrobust.heads import HeadKind

log = logging.getLogger(__name__)

__all__ = [
    "LabelRow",
    "LabelSpec",
    "LabelTable",
    "class_index",
    "label_spec",
    "looks_identifying",
    "normalize_column",
    "read_labels",
]


@dataclass(frozen=True)
class LabelSpec:
    """The task and label names every reader declares."""

    task: HeadKind
    names: tuple[str, ...]

    def parse(self, values: Sequence[str]) -> np.ndarray | str:
        """Raw cell value(s) into a label array, or a problem description."""
        if self.task == HeadKind.MULTILABEL:
            try:
                arr = np.array([int(float(v)) for v in values], dtype=np.int64)
            except ValueError:
                return f"multi-label values must be 0 or 1, got {list(values)}"
            if not np.isin(arr, (0, 1)).all():
                return f"multi-label values must be 0 or 1, got {list(values)}"
            return arr
        return class_index(values[0], self.names)


def class_index(value: str, names: Sequence[str]) -> np.ndarray | str:
    """A class name or index into a 0-d int array, or a problem description."""
    text = str(value).strip()
    if text == "":
        return "has no label"
    if text in names:
        return np.array(list(names).index(text), dtype=np.int64)
    try:
        idx = float(text)
    except ValueError:
        return f"label {text!r} is not one of the declared classes {list(names)}"
    if idx != round(idx) or not 0 <= idx < len(names):
        return f"label {text!r} is outside the declared classes 0..{len(names) - 1} ({', '.join(names)})"
    return np.array(int(idx), dtype=np.int64)


def label_spec(
    observed: Sequence[str],
    *,
    label_columns: Sequence[str],
    task: str | None = None,
    label_names: Sequence[str] | None = None,
) -> LabelSpec:
    """Declared task and names, or inferred ones: 2 classes binary, more multi-class, several columns multi-label."""
    kind = HeadKind(task) if task else (HeadKind.MULTILABEL if len(label_columns) > 1 else None)
    if kind == HeadKind.MULTILABEL:
        names = tuple(label_names) if label_names else tuple(label_columns)
        if len(names) != len(label_columns):
            raise ConfigError(f"{len(label_columns)} label columns but {len(names)} label names")
        return LabelSpec(kind, names)
    if len(label_columns) != 1:
        raise ConfigError(f"a {kind.value if kind else 'class'} task takes one label column, got {list(label_columns)}")
    if label_names:
        names = tuple(str(n) for n in label_names)
    else:
        values = sorted({str(v).strip() for v in observed if str(v).strip() != ""})
        if not values:
            raise ConfigError("no labels found to infer the classes from; give label_names")
        if all(_is_int(v) for v in values):
            top = max(int(float(v)) for v in values)
            names = tuple(str(i) for i in range(max(top + 1, 2)))
        else:
            names = tuple(values)
    kind = kind or (HeadKind.BINARY if len(names) == 2 else HeadKind.MULTICLASS)
    if kind == HeadKind.BINARY and len(names) != 2:
        raise ConfigError(f"a binary task needs exactly 2 classes, got {list(names)}")
    if len(names) < 2:
        raise ConfigError(f"a class task needs at least 2 classes, got {list(names)}")
    return LabelSpec(kind, names)


def _is_int(text: str) -> bool:
    try:
        return float(text) == round(float(text))
    except ValueError:
        return False


@dataclass(frozen=True)
class LabelRow:
    """One usable CSV row."""

    line: int
    key: str
    label: np.ndarray
    meta: dict[str, str]


@dataclass(frozen=True)
class LabelTable:
    """A validated labels CSV: the key column it uses, its rows, task and label names."""

    path: Path
    key_column: str
    rows: list[LabelRow]
    spec: LabelSpec
    meta_columns: tuple[str, ...]

    def source(self, row: LabelRow) -> str:
        """How errors name a row: ``labels.csv row 3`` (the file line, header is line 1)."""
        return f"{self.path} row {row.line}"


def read_labels(
    path: str | Path,
    *,
    keys: Sequence[str],
    bad: BadFiles,
    label_columns: str | Sequence[str] | None = None,
    task: str | None = None,
    label_names: Sequence[str] | None = None,
    meta_columns: Sequence[str] | None = None,
) -> LabelTable:
    """Read and validate a labels CSV; bad rows go through the bad-file policy ``bad``."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(str(p), "labels CSV not found")
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(str(p), f"not a readable CSV file ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    by_norm = {normalize_column(c): c for c in frame.columns}
    key_column = next((by_norm[normalize_column(k)] for k in keys if normalize_column(k) in by_norm), None)
    if key_column is None:
        raise DataError(str(p), f"needs a column naming each sample, one of {list(keys)}; it has {list(frame.columns)}")
    if label_columns is None:
        if "label" not in frame.columns:
            raise DataError(
                str(p),
                f"has no 'label' column; name the label column(s) with label_columns (it has {list(frame.columns)})",
            )
        label_columns = ["label"]
    cols = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(str(p), f"label column(s) {missing} not found; it has {list(frame.columns)}")
    if len(frame) == 0:
        raise DataError(str(p), "has no rows")
    spec = label_spec(frame[cols[0]].tolist(), label_columns=cols, task=task, label_names=label_names)
    meta = _meta_columns(frame, p, exclude={key_column, *cols}, requested=meta_columns)
    rows: list[LabelRow] = []
    for i, record in enumerate(frame.to_dict("records")):
        line = i + 2
        key = str(record[key_column]).strip()
        if not key:
            bad.report(f"{p} row {line}", f"the {key_column!r} cell is empty")
            continue
        label = spec.parse([record[c] for c in cols])
        if isinstance(label, str):
            bad.report(f"{p} row {line}", label)
            continue
        rows.append(LabelRow(line, key, label, {c: str(record[c]).strip() or "unknown" for c in meta}))
    return LabelTable(p, key_column, rows, spec, meta)


def _meta_columns(
    frame: pd.DataFrame, path: Path, exclude: set[str], requested: Sequence[str] | None
) -> tuple[str, ...]:
    """Declared subgroup columns (refused when identifying), else the known clinical ones; the rest are dropped."""
    if requested is not None:
        for c in requested:
            if c not in frame.columns:
                raise DataError(str(path), f"meta column {c!r} not found; it has {list(frame.columns)}")
            keyword = annex_e_keyword(c)
            if keyword or looks_identifying(c):
                annex = f" (the DICOM PS3.15 Annex E attribute {keyword})" if keyword else ""
                raise ConfigError(
                    f"{path}: column {c!r} looks like a patient identifier{annex} and cannot be used as metadata"
                )
            kind = _identifying_values(frame[c])
            if kind:
                raise DataError(
                    str(path), f"meta column {c!r} holds values that look like identifiers ({kind}); it cannot be used"
                )
        return tuple(requested)
    kept: list[str] = []
    dropped: list[str] = []
    flagged: list[str] = []
    for c in (c for c in frame.columns if c not in exclude):
        if not is_clinical(c):
            dropped.append(c)
        elif _identifying_values(frame[c]):
            flagged.append(c)
        else:
            kept.append(c)
    if dropped:
        log.warning(
            "%s: columns %s are not kept as metadata (neither declared in meta_columns nor known clinical columns)",
            path,
            dropped,
        )
    if flagged:
        log.warning("%s: columns %s hold identifier-like values and are not kept as metadata", path, flagged)
    return tuple(kept)


def _identifying_values(column: pd.Series) -> str | None:
    """The kind of identifier-like value a column holds (``dates``, ...), else None; values are never shown."""
    for value in column.unique():
        kind = identifying_value(str(value))
        if kind:
            return kind
    return None
