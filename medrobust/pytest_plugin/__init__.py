"""pytest plugin (``pytest11`` entry point): robustness fixtures, marker, options, session summary.

A suite defines ``robustness_model`` and ``robustness_data`` fixtures; the ``robustness``
fixture sweeps them once per session (cached on a key of the arguments) and
``@pytest.mark.robustness(attack="pgd", eps="2/255", min_accuracy=0.7)`` checks the result.
pytest loads this module in every session of the environment, so torch and medrobust
are imported lazily, only when a fixture or check is used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from medrobust.pytest_plugin.factory import RobustnessFactory, _baseline_index
from medrobust.pytest_plugin.session import INDEX, MARKER, Record, Run, SessionState, _sessions, record_verdict

if TYPE_CHECKING:
    from medrobust.results.results import Results

log = logging.getLogger(__name__)

__all__ = ["INDEX", "Record", "RobustnessFactory", "Run", "SessionState", "record_verdict"]

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
    from medrobust.gates.assertions import check_robust
    from medrobust.results.results import Results

    funcargs = getattr(item, "funcargs", {})
    results = funcargs.get("robustness")
    if not isinstance(results, Results):
        return [
            f"@pytest.mark.robustness needs the `robustness` fixture to return Results, got {type(results).__name__}"
        ]
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
                out.append(
                    f"{run.name} regressed against its baseline (the comparison is shown under {run.reported_in})"
                )
            else:
                out.append(run.regression)
                run.reported_in = item.nodeid
    return out


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With ``--robustness-report``: write ``robustness.json`` (runs and checks) and a Markdown summary."""
    state = session.config.stash.get(_STATE, None)
    if state is None or state.report is None or not (state.runs or state.records):
        return
    from medrobust.results.atomic import write_json, write_text

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
    write_text(
        state.report / "robustness.md",
        "\n".join(["# Robustness checks", "", *_summary_lines(state, markdown=True), ""]),
    )


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
        clean = f"clean accuracy {run.results.clean_accuracy:.3f}, n={run.results.summary.n}"
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
