"""What the pytest plugin keeps for one session: its runs, names, checks and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medrobust.gates.assertions import Verdict
    from medrobust.results.results import Results

INDEX = "robustness.json"
"""The index ``--robustness-report`` writes: runs (folders) and checks; a valid baseline."""

MARKER = (
    "robustness(attack=None, eps, min_accuracy=None, min_auroc=None, max_drop=None, "
    "max_subgroup_gap=None, subgroup=None): robustness thresholds checked against the test's "
    "`robustness` result at every budget up to eps"
)


@dataclass
class Run:
    """One sweep made in this session: its name, cache key, results and baseline verdict."""

    name: str
    key: str
    results: Results
    folder: Path | None = None
    baseline: str | None = None
    regression: str | None = None
    compared: bool = False
    reported_in: str = ""


@dataclass
class Record:
    """One check (marker or ``assert_robust``) made by one test."""

    test: str
    verdict: Verdict


@dataclass
class SessionState:
    """What the plugin keeps for one pytest session."""

    report: Path | None
    baseline: Path | None
    tolerance: float
    runs: dict[str, Run] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    used: dict[str, list[str]] = field(default_factory=dict)
    current: str = ""
    fingerprints: dict[int, tuple[object, str]] = field(default_factory=dict)


_sessions: list[SessionState] = []


def record_verdict(verdict: Verdict) -> None:
    """Called by :func:`medrobust.gates.assertions.check_robust`: remember it for the summary."""
    if _sessions:
        state = _sessions[-1]
        state.records.append(Record(state.current or "(outside a test)", verdict))
