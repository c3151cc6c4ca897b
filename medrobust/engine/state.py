"""Resumable run state: a small dataclass written to JSON after every batch, and the folder's lock.

A results folder holds one run. Its writer holds an exclusive lock for the whole run; every
part carries the run key (in its name and its metadata), so a part of another run is never
merged. A folder that holds a different run is refused unless ``overwrite`` is given; then a
finished run's results are replaced and an unfinished run's parts are set aside, not deleted.
Every session that works on a run (the first, and each resume) is recorded in the state.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from medrobust.errors import ConfigError
from medrobust.results.atomic import write_json
from medrobust.results.folder import PARTS, STATE, ResultsFolder
from medrobust.results.manifest import now

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
    sessions: list[dict[str, Any]] = field(default_factory=list)
    """Every session that worked on the run: ``started``, ``finished``, ``seconds``, ``batches`` it did."""
    _clock: float = field(default=0.0, init=False, repr=False, compare=False)  # this session's start, not saved

    @classmethod
    def open(
        cls, folder: Path, key: str, batches: int, resume: bool, overwrite: bool = False, started: str | None = None
    ) -> RunState:
        """The saved state when it belongs to the same run and ``resume`` is on, else a fresh one.

        A different run's state is an error naming both keys, unless ``overwrite``. An
        unfinished run gets a new session that ``started`` (default: now; see :meth:`begin`).
        """
        path = ResultsFolder(folder).state
        if not path.is_file():
            return cls(key, batches).begin(started)
        try:
            saved = cls(**json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            kept = _set_aside(folder, "corrupt")
            log.warning("%s: unreadable run state (%s); starting afresh, earlier parts kept in %s", path, exc, kept)
            return cls(key, batches).begin(started)
        if saved.key == key and saved.batches == batches:
            if not resume:
                return cls(key, batches).begin(started)
            f = ResultsFolder(folder)
            saved.done = [b for b in saved.done if all(f.part(k, b, key).is_file() for k in KINDS)]
            return saved if saved.complete else saved.begin(started)
        what = "the finished" if saved.complete else "the unfinished"
        if not overwrite:
            raise ConfigError(
                f"{folder} holds {what} run {saved.key[:12]}, not this run {key[:12]}: choose another --out "
                "(out_dir), or pass --overwrite (overwrite=True) to replace it"
            )
        if saved.done and not saved.complete:
            kept = _set_aside(folder, f"run-{saved.key[:12]}")
            log.warning(
                "%s held the unfinished run %s; this is run %s: its parts are kept in %s, this run starts afresh",
                folder,
                saved.key[:12],
                key[:12],
                kept,
            )
        else:
            log.warning("%s: replacing %s run %s with run %s", folder, what, saved.key[:12], key[:12])
        return cls(key, batches).begin(started)

    def begin(self, started: str | None = None) -> RunState:
        """Start this process's session: its clock and a new entry in :attr:`sessions`."""
        self._clock = time.perf_counter()
        self.sessions.append({"started": started or now(), "finished": None, "seconds": 0.0, "batches": 0})
        return self

    def tick(self, batches: int = 0) -> None:
        """Bring this session's entry up to date: ``batches`` more done, finished now."""
        if not self.sessions:
            self.begin()
        session = self.sessions[-1]
        session["batches"] += batches
        session["finished"] = now()
        session["seconds"] = round(time.perf_counter() - self._clock, 3)

    def to_json(self) -> dict[str, Any]:
        """The state as ``state.json`` holds it (this session's clock left out)."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

    @property
    def resumed(self) -> bool:
        """True when an earlier session already worked on this run (a resumed run)."""
        return len(self.sessions) > 1

    def record(self, folder: Path, batch: int, clean: pd.DataFrame, rows: pd.DataFrame) -> None:
        """Persist one finished batch: its rows first, then the state that points at them."""
        f = ResultsFolder(folder)
        f.write_part("clean", batch, self.key, clean)
        f.write_part("rows", batch, self.key, rows)
        self.done.append(batch)
        self.tick(1)
        write_json(f.state, self.to_json())

    def load_parts(self, folder: Path) -> dict[int, tuple[pd.DataFrame, pd.DataFrame]]:
        """The clean rows and attack rows of every finished batch, by batch, with their dtypes as written."""
        f = ResultsFolder(folder)
        return {b: (f.read_part("clean", b, self.key), f.read_part("rows", b, self.key)) for b in sorted(self.done)}

    def finish(self, folder: Path) -> None:
        """Mark the run complete and drop the per-batch parts."""
        self.complete = True
        f = ResultsFolder(folder)
        write_json(f.state, self.to_json())
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
