"""Smoke run of ``benchmarks/sweep_vs_peers.py --quick`` so the benchmark cannot rot.

medrobust always runs; each peer library runs only where it is installed (the ``bench``
extra), so CI with the ``dev`` extra alone still exercises the script end to end.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PEER_MODULES = {"torchattacks": "torchattacks", "foolbox": "foolbox", "art": "art"}


def _bench() -> Any:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from benchmarks import sweep_vs_peers

    return sweep_vs_peers


@pytest.fixture(scope="module")
def quick_report(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch, medmnist_root: Path
) -> dict[str, Any]:
    """One quick run (medrobust plus every installed peer), written to JSON and read back."""
    tmp = tmp_path_factory.mktemp("bench")
    monkeypatch_module.setenv("MEDROBUST_DATA", str(medmnist_root.parent))
    monkeypatch_module.setenv("MEDROBUST_BENCH_CACHE", str(tmp / "cache"))
    tools = ["medrobust"] + [t for t, m in PEER_MODULES.items() if importlib.util.find_spec(m) is not None]
    out = tmp / "quick.json"
    _bench().main(["--quick", "--device", "cpu", "--tools", ",".join(tools), "--out", str(out)])
    return dict(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_quick_run_reports_every_budget_for_medrobust(quick_report: dict[str, Any]) -> None:
    ours = quick_report["results"]["pgd"]["medrobust"]
    assert list(ours["budgets"]) == ["1/255", "2/255", "4/255", "8/255"]
    accs = [ours["budgets"][b]["robust_accuracy"] for b in ours["budgets"]]
    assert accs == sorted(accs, reverse=True), "the monotone sweep's curve must not rise"
    assert accs[0] <= quick_report["model"]["clean_accuracy"] + 1e-9
    assert ours["total_seconds_median"] > 0
    assert quick_report["results"]["fgsm"]["medrobust"]["image_passes"]["grad"] > 0
    assert quick_report["settings"]["quick"] is True
    assert quick_report["machine"]["cpu"]
    assert quick_report["libraries"]["torch"]


def test_report_records_checks_and_costs(quick_report: dict[str, Any]) -> None:
    assert quick_report["cost"]["forward_backward_ms_per_image"] > 0
    assert set(quick_report["checks"]) >= {"not_weaker", "speed_target"}
    assert quick_report["load_average"]["before"] is not None


@pytest.mark.parametrize("peer", sorted(PEER_MODULES))
def test_peer_ran_and_medrobust_is_not_weaker(quick_report: dict[str, Any], peer: str) -> None:
    pytest.importorskip(PEER_MODULES[peer])
    for kind in ("pgd", "fgsm"):
        assert peer in quick_report["results"][kind]
        assert quick_report["ratios_peer_over_medrobust"][kind][peer] > 0
    detail = quick_report["checks"]["not_weaker"]["detail"]
    assert detail and all(d["passed"] for d in detail.values()), detail
