"""A resumed run records every session in its state and manifest, and says so in the report and at the CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from test_sweep import CountingPGD

import medrobust
from medrobust.datasets.synthetic import synthetic
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN

KEYS = {"started", "finished", "seconds", "batches"}


def _model() -> ModelAdapter:
    torch.manual_seed(0)
    return ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2, input_shape=(1, 28, 28), name="tiny")


def _run(out: Path, fail_at: int = 0) -> Any:
    data = synthetic(20, seed=1)
    kw: dict[str, Any] = {"eps": [0, "1/255"], "batch_size": 5, "bootstrap": 0, "out_dir": out}
    return medrobust.evaluate(_model(), data, [CountingPGD(fail_at=fail_at, steps=2)], **kw)


def test_a_run_in_one_session(tmp_path: Path) -> None:
    results = _run(tmp_path / "out")
    m = results.manifest
    assert m["resumed"] is False and len(m["sessions"]) == 1
    (session,) = m["sessions"]
    assert set(session) == KEYS and session["batches"] == 4 and session["started"] == m["started"]
    assert "one session" in (tmp_path / "out" / "report.html").read_text()


def test_every_session_survives_kills_and_reaches_manifest_and_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(out, fail_at=3)  # 4 batches of 5, one attack call per batch: killed in batch 3
    state = json.loads((out / "state.json").read_text())
    assert [s["batches"] for s in state["sessions"]] == [2]
    with pytest.raises(KeyboardInterrupt):
        _run(out, fail_at=2)  # the second session does one more batch
    state = json.loads((out / "state.json").read_text())
    assert [s["batches"] for s in state["sessions"]] == [2, 1]
    m = _run(out).manifest
    assert m["resumed"] is True
    assert [s["batches"] for s in m["sessions"]] == [2, 1, 1]
    assert all(set(s) == KEYS and s["finished"] >= s["started"] for s in m["sessions"])
    assert m["started"] == m["sessions"][0]["started"]
    assert "resumed (3 sessions)" in (out / "report.html").read_text()


def test_resuming_is_said_at_the_cli_default_level(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(out, fail_at=3)
    with caplog.at_level(logging.WARNING):  # the CLI's level without -v
        _run(out)
    (record,) = [r for r in caplog.records if "resuming" in r.getMessage()]
    assert record.levelno >= logging.WARNING and "2 of 4 batches already done" in record.getMessage()
