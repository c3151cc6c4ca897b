"""Resumable run state: a small dataclass written to JSON after every batch, and the folder's lock.

A results folder holds one run. Its writer holds an exclusive lock for the whole run; every
part carries the run key (in its name and its metadata), so a part of another run is never
merged; the parts of a different, unfinished run are set aside, not overwritten.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from medrobust.errors import ConfigError
from medrobust.results.atomic import write_json
from medrobust.results.folder import PARTS, STATE, ResultsFolder

__all__ = ["PARTS", "STATE", "RunState", "folder_lock"]

log = logging.getLogger(__name__)

KINDS = ("clean", "rows")


@dataclass
class RunState:
    """Which batches of which run are done; ``key`` fingerprints model, data and spec."""

    key: str
    batches: int
    done: list[int] = field(default_factory=list)
    complete: bool = False

    @classmethod
    def open(cls, folder: Path, key: str, batches: int, resume: bool) -> RunState:
        """The saved state when it belongs to the same run and ``resume`` is on, else a fresh one."""
        path = ResultsFolder(folder).state
        if not path.is_file():
            return cls(key, batches)
        try:
            saved = cls(**json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            kept = _set_aside(folder, "corrupt")
            log.warning("%s: unreadable run state (%s); starting afresh, earlier parts kept in %s", path, exc, kept)
            return cls(key, batches)
        if saved.key == key and saved.batches == batches:
            if not resume:
                return cls(key, batches)
            f = ResultsFolder(folder)
            saved.done = [b for b in saved.done if all(f.part(k, b, key).is_file() for k in KINDS)]
            return saved
        if saved.done and not saved.complete:
            kept = _set_aside(folder, f"run-{saved.key[:12]}")
            log.warning(
                "%s held the unfinished run %s; this is run %s: its parts are kept in %s, this run starts afresh",
                folder,
                saved.key[:12],
                key[:12],
                kept,
            )
        elif saved.complete:
            log.warning("%s: replacing the results of run %s with run %s", folder, saved.key[:12], key[:12])
        return cls(key, batches)

    def record(self, folder: Path, batch: int, clean: pd.DataFrame, rows: pd.DataFrame) -> None:
        """Persist one finished batch: its rows first, then the state that points at them."""
        f = ResultsFolder(folder)
        f.write_part("clean", batch, self.key, clean)
        f.write_part("rows", batch, self.key, rows)
        self.done.append(batch)
        write_json(f.state, asdict(self))

    def load_parts(self, folder: Path) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
        """The rows of every finished batch, in batch order, with their dtypes as written."""
        f = ResultsFolder(folder)
        done = sorted(self.done)
        cleans = [f.read_part("clean", b, self.key) for b in done]
        return cleans, [f.read_part("rows", b, self.key) for b in done]

    def finish(self, folder: Path) -> None:
        """Mark the run complete and drop the per-batch parts."""
        self.complete = True
        f = ResultsFolder(folder)
        write_json(f.state, asdict(self))
        for b in self.done:
            for kind in KINDS:
                f.part(kind, b, self.key).unlink(missing_ok=True)
        if f.parts.is_dir() and not any(f.parts.iterdir()):
            f.parts.rmdir()


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Create ``folder`` and hold its exclusive lock: proves it writable before anything is attacked."""
    from filelock import FileLock, Timeout

    f = ResultsFolder(folder)
    try:
        f.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(f.lock), timeout=0)
        lock.acquire()
    except Timeout:
        raise ConfigError(
            f"{folder}: another medrobust process is writing this results folder; wait for it or use another --out"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the results folder ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        lock.release()


def _set_aside(folder: Path, why: str) -> Path:
    """Move ``state.json`` and the parts folder under ``<why>-<n>/``, so nothing computed is lost."""
    n = 1
    while (folder / f"{why}-{n}").exists():
        n += 1
    target = folder / f"{why}-{n}"
    target.mkdir()
    for name in (STATE, PARTS):
        if (folder / name).exists():
            shutil.move(str(folder / name), str(target / name))
    return target
