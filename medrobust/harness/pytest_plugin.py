"""pytest plugin (``pytest11`` entry point): robustness fixtures, marker, options, session summary.

A suite defines ``robustness_model`` and ``robustness_data`` fixtures; the ``robustness``
fixture sweeps them once per session (cached on a key of the arguments) and
``@pytest.mark.robustness(attack="pgd", eps="2/255", min_accuracy=0.7)`` checks the result.
pytest loads this module in every session of the environment, so torch and medrobust
are imported lazily, only when a fixture or check is used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from medrobust.harness.assertions import Verdict
    from medrobust.harness.results import Results

log = logging.getLogger(__name__)

INDEX = "robustness.json"
"""The index ``--robustness-report`` writes: runs (folders) and checks; a valid baseline."""

DEFAULT_ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
DEFAULT_EPS: tuple[float | str, ...] = (0, "1/255", "2/255", "4/255", "8/255")
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
_STATE = pytest.StashKey[SessionState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("medrobust", "adversarial robustness (medrobust)")
    group.addoption(
        "--robustness-report",
        metavar="DIR",
        default=None,
        help="write each robustness run's results folder and HTML report under DIR, plus DIR/robustness.json",
    )
    group.addoption(
        "--robustness-baseline",
        metavar="FILE",
        default=None,
        help="gate every robustness run against a stored baseline: a robustness.json written by "
        "--robustness-report (runs matched by name), or one results folder",
    )
    group.addoption(
        "--robustness-tolerance",
        metavar="DROP",
        type=float,
        default=0.02,
        help="largest fall in robust accuracy against the baseline that is not a regression (default 0.02)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    report = config.getoption("--robustness-report", None)
    baseline = config.getoption("--robustness-baseline", None)
    if baseline is not None and _baseline_index(Path(baseline)) is None:
        raise pytest.UsageError(
            f"--robustness-baseline {baseline}: not a {INDEX} written by --robustness-report, "
            "nor a results folder (with summary.json)"
        )
    state = SessionState(
        report=Path(report) if report else None,
        baseline=Path(baseline) if baseline else None,
        tolerance=float(config.getoption("--robustness-tolerance", 0.02) or 0.02),
    )
    config.stash[_STATE] = state
    _sessions.append(state)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and state in _sessions:
        _sessions.remove(state)


def record_verdict(verdict: Verdict) -> None:
    """Called by :func:`medrobust.harness.assertions.check_robust`: remember it for the summary."""
    if _sessions:
        state = _sessions[-1]
        state.records.append(Record(state.current or "(outside a test)", verdict))


class RobustnessFactory:
    """``factory(model, data, attacks, eps, **evaluate_kwargs) -> Results``, once per key per session.

    ``model`` is a :class:`ModelAdapter`, an ``nn.Module`` or a builder (a callable returning
    either; called only when the run is not cached). ``data`` is a dataset or a builder.
    ``name`` names the run in reports and baselines (default: model and data names).
    """

    def __init__(self, state: SessionState) -> None:
        self.state = state

    def __call__(
        self,
        model: Any,
        data: Any,
        attacks: Sequence[Any] = DEFAULT_ATTACKS,
        eps: Sequence[float | str] = DEFAULT_EPS,
        *,
        name: str | None = None,
        **kwargs: Any,
    ) -> Results:
        from medrobust.harness.evaluate import evaluate

        kwargs.setdefault("progress", False)
        key = self._key(model, data, attacks, eps, name, kwargs)
        run = self.state.runs.get(key)
        if run is None:
            net = model() if _is_builder(model) else model
            dataset = data() if _is_builder(data) else data
            run_name = self._name(name, net, dataset, key)
            given = kwargs.pop("out_dir", None)  # an explicit folder wins over --robustness-report
            folder = Path(given) if given is not None else self.state.report / run_name if self.state.report else None
            results = evaluate(net, dataset, attacks=list(attacks), eps=list(eps), out_dir=folder, **kwargs)
            run = Run(run_name, key, results, folder)  # with a folder, evaluate also wrote the HTML report
            self._gate(run)
            self.state.runs[key] = run
        if self.state.current:
            self.state.used.setdefault(self.state.current, []).append(key)
        return run.results

    def _key(self, model: Any, data: Any, attacks: Sequence[Any], eps: Sequence[Any], name: str | None, kwargs: dict[str, Any]) -> str:
        parts = [self._identity(model), self._identity(data), [_spec(a) for a in attacks], [str(e) for e in eps], name, kwargs]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()

    def _identity(self, obj: Any) -> str:
        """A builder by qualified name; a model or dataset by content fingerprint (cached by id)."""
        if _is_builder(obj):
            return f"builder:{_qualname(obj)}"
        hit = self.state.fingerprints.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        fp = _fingerprint(obj)
        self.state.fingerprints[id(obj)] = (obj, fp)
        return fp

    def _name(self, name: str | None, model: Any, data: Any, key: str) -> str:
        model_name = getattr(model, "name", None) or type(model).__name__
        base = _slug(name or f"{model_name}-{data.info.name}")
        candidate, i = base, 2
        while self.state.names.get(candidate, key) != key:
            candidate, i = f"{base}-{i}", i + 1
        self.state.names[candidate] = key
        return candidate

    def _gate(self, run: Run) -> None:
        """Compare ``run`` with its baseline when ``--robustness-baseline`` is given."""
        if self.state.baseline is None:
            return
        index = _baseline_index(self.state.baseline) or {}
        folder = index.get(run.name, index.get("*"))
        if folder is None:
            run.baseline = None
            return
        from medrobust.errors import MedrobustError
        from medrobust.harness.assertions import regression_gate

        run.baseline = str(folder)
        try:
            comparison = regression_gate(folder, run.results, tolerance=self.state.tolerance)
        except MedrobustError as exc:
            run.compared = True
            run.regression = f"{run.name}: cannot compare with the baseline {folder}: {exc}"
            return
        run.compared = True
        if not comparison.ok:
            run.regression = (
                f"{run.name} regressed against the baseline {folder} "
                f"(tolerance {self.state.tolerance:g}):\n{comparison.table()}"
            )


def _state(config: pytest.Config) -> SessionState:
    return config.stash[_STATE]


@pytest.fixture(scope="session")
def robustness_factory(request: pytest.FixtureRequest) -> RobustnessFactory:
    """Run a sweep once per session per (model, data, attacks, eps, options); see :class:`RobustnessFactory`."""
    return RobustnessFactory(_state(request.config))


@pytest.fixture
def robustness_model() -> Any:
    """Override in your conftest.py: the model under test (ModelAdapter, nn.Module or builder)."""
    pytest.fail("define a `robustness_model` fixture in conftest.py that returns the model under test", pytrace=False)


@pytest.fixture
def robustness_data() -> Any:
    """Override in your conftest.py: the test data (a medrobust dataset or a builder)."""
    pytest.fail("define a `robustness_data` fixture in conftest.py that returns a medrobust dataset", pytrace=False)


@pytest.fixture
def robustness_settings() -> dict[str, Any]:
    """Override to change the sweep: ``attacks``, ``eps``, ``n``, ``subgroups``, ``batch_size``, ``seed``..."""
    return {}


@pytest.fixture
def robustness(
    robustness_factory: RobustnessFactory,
    robustness_model: Any,
    robustness_data: Any,
    robustness_settings: dict[str, Any],
) -> Results:
    """The sweep of ``robustness_model`` on ``robustness_data``, shared by every test that asks for it."""
    return robustness_factory(robustness_model, robustness_data, **robustness_settings)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``robustness`` gets the ``robustness`` fixture even without asking for it."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is not None and item.get_closest_marker("robustness") and "robustness" not in names:
            names.append("robustness")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Any:
    """Remember which test is running, so sweeps and checks are attributed to it."""
    state = item.config.stash.get(_STATE, None)
    if state is None:
        return (yield)
    state.current = item.nodeid
    try:
        return (yield)
    finally:
        state.current = ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run the test, then its ``robustness`` markers and the baseline gate of the runs it used."""
    outcome = yield
    state = item.config.stash.get(_STATE, None)
    if state is not None:
        problems = _marker_problems(item) + _regressions(state, item)
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
    return outcome


def _marker_problems(item: pytest.Item) -> list[str]:
    markers = list(item.iter_markers("robustness"))
    if not markers:
        return []
    from medrobust.errors import MedrobustError
    from medrobust.harness.assertions import check_robust
    from medrobust.harness.results import Results

    funcargs = getattr(item, "funcargs", {})
    results = funcargs.get("robustness")
    if not isinstance(results, Results):
        return [f"@pytest.mark.robustness needs the `robustness` fixture to return Results, got {type(results).__name__}"]
    problems = []
    for marker in reversed(markers):  # outermost (module, class) first
        if marker.args:
            problems.append("@pytest.mark.robustness takes keyword arguments only (attack=, eps=, min_accuracy=, ...)")
            continue
        try:
            verdict = check_robust(results, **marker.kwargs)
        except TypeError as exc:
            problems.append(f"@pytest.mark.robustness: {exc}")
            continue
        except MedrobustError as exc:
            problems.append(f"@pytest.mark.robustness: {exc}")
            continue
        if not verdict.ok:
            problems.append(verdict.message())
    return problems


def _regressions(state: SessionState, item: pytest.Item) -> list[str]:
    """Regressions of the runs this test made or received through a (session) fixture."""
    values = {id(v) for v in getattr(item, "funcargs", {}).values()}
    keys = set(state.used.get(item.nodeid, []))
    out = []
    for run in state.runs.values():
        if run.regression and (run.key in keys or id(run.results) in values):
            if run.reported_in:
                out.append(f"{run.name} regressed against its baseline (the comparison is shown under {run.reported_in})")
            else:
                out.append(run.regression)
                run.reported_in = item.nodeid
    return out


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With ``--robustness-report``: write ``robustness.json`` (runs and checks) and a Markdown summary."""
    state = session.config.stash.get(_STATE, None)
    if state is None or state.report is None or not (state.runs or state.records):
        return
    from medrobust.harness.atomic import write_json, write_text

    index = {
        "runs": {
            run.name: {
                "folder": run.name,
                "key": run.key,
                "model": run.results.manifest.get("model", {}).get("name"),
                "data": run.results.manifest.get("data", {}).get("name"),
                "clean_accuracy": run.results.clean_accuracy,
                "baseline": run.baseline,
                "regression": bool(run.regression),
            }
            for run in state.runs.values()
        },
        "checks": [
            {
                "test": r.test,
                "run": c.run,
                "attack": c.attack,
                "budget": c.budget,
                "eps": c.eps,
                "threshold_name": c.threshold_name,
                "threshold": c.threshold,
                "value": c.value,
                "subgroup": c.subgroup,
                "ok": c.ok,
            }
            for r in state.records
            for c in r.verdict.checks
        ],
    }
    write_json(state.report / INDEX, index)
    write_text(state.report / "robustness.md", "\n".join(["# Robustness checks", "", *_summary_lines(state, markdown=True), ""]))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """A short summary of every robustness check and baseline comparison in the session."""
    state = config.stash.get(_STATE, None)
    if state is None or not (state.runs or state.records):
        return
    terminalreporter.write_sep("=", "medrobust robustness checks")
    for line in _summary_lines(state, markdown=False):
        terminalreporter.write_line(line)


def _summary_lines(state: SessionState, markdown: bool) -> list[str]:
    bullet = "- " if markdown else ""
    lines = []
    for r in state.records:
        word = "PASSED" if r.verdict.ok else "FAILED"
        lines.append(f"{bullet}{word} {r.test}: {r.verdict.run}: {r.verdict.summary_line()}")
    for run in state.runs.values():
        clean = f"clean accuracy {run.results.clean_accuracy:.3f}, n={run.results.summary.get('n')}"
        where = f", results in {run.folder}" if run.folder else ""
        if state.baseline is None:
            gate = ""
        elif not run.compared:
            gate = "; no baseline for this run"
        else:
            gate = "; REGRESSION against the baseline" if run.regression else "; no regression against the baseline"
        lines.append(f"{bullet}run {run.name}: {clean}{where}{gate}")
    n_fail = sum(not r.verdict.ok for r in state.records)
    lines.append(f"{bullet}{len(state.records)} robustness check(s), {n_fail} failed; {len(state.runs)} sweep(s)")
    return lines


def _baseline_index(path: Path) -> dict[str, Path] | None:
    """Run name -> baseline results folder (``*``: one folder for every run); ``None`` if unusable."""
    if path.is_dir() and (path / INDEX).is_file():
        path = path / INDEX
    if path.is_file() and path.name == "summary.json":
        path = path.parent
    if path.is_dir() and (path / "summary.json").is_file():
        return {"*": path}
    if path.is_file():
        try:
            runs = json.loads(path.read_text()).get("runs", {})
        except (json.JSONDecodeError, AttributeError):
            return None
        if not isinstance(runs, dict):
            return None
        return {name: path.parent / str(info.get("folder", name)) for name, info in runs.items() if isinstance(info, dict)}
    return None


def _is_builder(obj: Any) -> bool:
    """A callable that is not itself a model or a dataset."""
    from torch import nn

    from medrobust.datasets.base import MedicalDataset

    return callable(obj) and not isinstance(obj, nn.Module | MedicalDataset)


def _qualname(fn: Any) -> str:
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None:
        return f"{_qualname(inner)}(*{getattr(fn, 'args', ())!r}, **{getattr(fn, 'keywords', {})!r})"
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _fingerprint(obj: Any) -> str:
    import torch
    from torch import nn

    from medrobust.models.adapter import ModelAdapter

    if isinstance(obj, ModelAdapter):
        return f"model:{obj.fingerprint()}:{json.dumps(obj.describe(), sort_keys=True, default=str)}"
    if isinstance(obj, nn.Module):
        h = hashlib.sha256(type(obj).__qualname__.encode())
        for name, value in sorted(obj.state_dict().items()):
            h.update(name.encode())
            h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return f"module:{h.hexdigest()}"
    fp = getattr(obj, "fingerprint", None)
    return f"data:{fp()}" if callable(fp) else f"object:{id(obj)}"


def _spec(attack: Any) -> Any:
    if isinstance(attack, str | dict):
        return attack
    describe = getattr(attack, "describe", None)
    return {"label": getattr(attack, "label", repr(attack)), **(describe() if callable(describe) else {})}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"
