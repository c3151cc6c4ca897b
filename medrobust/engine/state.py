"""Resumable run state: a small dataclass written to JSON after every batch."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from medrobust.results.atomic import write_csv, write_json
from medrobust.results.folder import PARTS, STATE, ResultsFolder

__all__ = ["PARTS", "STATE", "RunState"]

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """Which batches of which run are done; ``key`` fingerprints model, data and config."""

    key: str
    batches: int
    done: list[int] = field(default_factory=list)
    complete: bool = False

    @classmethod
    def open(cls, folder: Path, key: str, batches: int, resume: bool) -> RunState:
        """The saved state when it belongs to the same run and ``resume`` is on, else a fresh one."""
        path = folder / STATE
        if resume and path.is_file():
            try:
                saved = cls(**json.loads(path.read_text()))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
                saved = None
                kept = _set_aside(folder)
                log.warning("%s: unreadable run state (%s); starting afresh, earlier parts kept in %s", path, exc, kept)
            if saved is not None and saved.key == key and saved.batches == batches:
                saved.done = [b for b in saved.done if _part_files_exist(folder, b)]
                return saved
        return cls(key, batches)

    def record(self, folder: Path, batch: int, clean: pd.DataFrame, rows: pd.DataFrame) -> None:
        """Persist one finished batch: its rows first, then the state that points at them."""
        write_csv(_part(folder, "clean", batch), clean)
        write_csv(_part(folder, "rows", batch), rows)
        self.done.append(batch)
        write_json(folder / STATE, asdict(self))

    def load_parts(self, folder: Path) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
        """The rows of every finished batch, in batch order."""
        f = ResultsFolder(folder)
        done = sorted(self.done)
        return [f.read_samples(_part(folder, "clean", b)) for b in done], [
            f.read_rows(_part(folder, "rows", b)) for b in done
        ]

    def finish(self, folder: Path) -> None:
        """Mark the run complete and drop the per-batch parts."""
        self.complete = True
        write_json(folder / STATE, asdict(self))
        for b in self.done:
            for kind in ("clean", "rows"):
                _part(folder, kind, b).unlink(missing_ok=True)
        parts = folder / PARTS
        if parts.is_dir() and not any(parts.iterdir()):
            parts.rmdir()


def _set_aside(folder: Path) -> Path | None:
    """Move ``state.json`` and the parts folder under ``corrupt-<n>/``, so nothing computed is lost."""
    n = 1
    while (folder / f"corrupt-{n}").exists():
        n += 1
    target = folder / f"corrupt-{n}"
    target.mkdir()
    for name in (STATE, PARTS):
        if (folder / name).exists():
            shutil.move(str(folder / name), str(target / name))
    return target


def _part(folder: Path, kind: str, batch: int) -> Path:
    return ResultsFolder(folder).part(kind, batch)


def _part_files_exist(folder: Path, batch: int) -> bool:
    return _part(folder, "clean", batch).is_file() and _part(folder, "rows", batch).is_file()
