"""One results folder: which file is where, written atomically and read back with clear errors.

The only module that knows the layout. ``summary.json`` (schema-versioned), ``manifest.json``,
``samples.csv`` (one row per sample), ``rows.csv`` (one row per sample x attack x budget),
``gallery.npz``; while a run is under way ``state.json`` and ``parts/`` (Parquet, one file per
finished batch, each carrying its run key), and ``.medrobust.lock`` (one writer); the reports
(``report.html``, ``summary.csv``, ``summary.md``, ``junit.xml``) written by
:mod:`medrobust.reports`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from medrobust.errors import DataError
from medrobust.results.atomic import write_bytes, write_csv, write_json, write_text

SUMMARY = "summary.json"
MANIFEST = "manifest.json"
SAMPLES = "samples.csv"
ROWS = "rows.csv"
GALLERY = "gallery.npz"
STATE = "state.json"
PARTS = "parts"
LOCK = ".medrobust.lock"
RUN_KEY = b"medrobust_run"  # the run key in every part's Parquet metadata
REPORT = "report.html"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
JUNIT = "junit.xml"

REQUIRED = (SUMMARY, MANIFEST, SAMPLES, ROWS)
"""The files a finished run always has."""
REPORTS = (REPORT, SUMMARY_CSV, SUMMARY_MD, JUNIT)
"""The files :func:`medrobust.reports.write_reports` adds."""


@dataclass(frozen=True)
class ResultsFolder:
    """A results folder at ``path`` (which need not exist yet)."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST

    @property
    def state(self) -> Path:
        return self.path / STATE

    @property
    def parts(self) -> Path:
        return self.path / PARTS

    @property
    def gallery(self) -> Path:
        return self.path / GALLERY

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def part(self, kind: str, batch: int, key: str) -> Path:
        """One finished batch's ``clean`` or ``rows`` table of run ``key`` while the run is under way."""
        return self.parts / f"{key[:12]}-{kind}-{batch:06d}.parquet"

    def write_part(self, kind: str, batch: int, key: str, frame: pd.DataFrame) -> None:
        """A part as Parquet (dtypes kept, so a resumed run is exact), its run key in the metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), RUN_KEY: key.encode()})
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf)
        write_bytes(self.part(kind, batch, key), buf.getvalue().to_pybytes())

    def read_part(self, kind: str, batch: int, key: str) -> pd.DataFrame:
        """A part written by :meth:`write_part`; one written by another run is refused, never merged."""
        import pyarrow.parquet as pq

        path = self.part(kind, batch, key)
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:
            raise DataError(str(path), f"unreadable part of an interrupted run ({exc})") from None
        written_by = (table.schema.metadata or {}).get(RUN_KEY, b"").decode()
        if written_by != key:
            raise DataError(
                str(path),
                f"written by run {written_by[:12] or '(unknown)'}, not by this run {key[:12]}: "
                "two runs shared this folder; refusing to mix their rows (use another --out or --no-resume)",
            )
        return table.to_pandas()

    def has_summary(self) -> bool:
        return self.summary.is_file()

    def missing(self) -> list[str]:
        """The required files that are not there (empty for a finished run)."""
        return [n for n in REQUIRED if not (self.path / n).is_file()]

    def write_tables(self, clean: pd.DataFrame, rows: pd.DataFrame, manifest: dict[str, Any], summary: str) -> None:
        """Rows first, the summary last: a folder with a summary is always whole."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_csv(self.path / SAMPLES, clean)
        write_csv(self.path / ROWS, rows)
        write_json(self.manifest, manifest)
        write_text(self.summary, summary)

    def read_text(self, name: str) -> str:
        """A file of the folder as text; a clear error naming it when unreadable."""
        path = self.path / name
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(str(path), f"unreadable ({exc})") from None

    def read_manifest(self) -> dict[str, Any]:
        """``manifest.json`` as a mapping."""
        try:
            obj = json.loads(self.read_text(MANIFEST))
        except json.JSONDecodeError as exc:
            raise DataError(str(self.manifest), f"unreadable JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise DataError(str(self.manifest), "expected a JSON object")
        return obj

    def read_samples(self) -> pd.DataFrame:
        """``samples.csv``: ids stay strings, empty metadata stays empty, scores float32."""
        return engine_dtypes(pd.read_csv(self.path / SAMPLES, dtype={"sample_id": str}, keep_default_na=False))

    def read_rows(self) -> pd.DataFrame:
        """``rows.csv``: budget labels stay strings, scores and norms float32."""
        return engine_dtypes(pd.read_csv(self.path / ROWS, dtype={"eps_label": str}))


FLOAT64_COLUMNS = frozenset({"eps"})
"""The only floating-point column the engine writes in float64 (the budget); the rest are float32."""


def engine_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The dtypes the engine computed: CSV reads floats as float64, the scores and norms were float32.

    A float32 is written as its shortest decimal, which reads back to the same float32, so a
    loaded or resumed run's rows equal the in-memory ones, dtypes included.
    """
    cast = {c: "float32" for c in frame.columns if frame[c].dtype == "float64" and c not in FLOAT64_COLUMNS}
    return frame.astype(cast) if cast else frame
