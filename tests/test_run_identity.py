"""A results folder holds one run: locked, parts keyed, exact resume, movable (issue 11, items 1 and 8)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from test_sweep import CountingPGD

import medrobust
from medrobust.datasets.synthetic import synthetic
from medrobust.engine.plan import plan_run
from medrobust.engine.spec import RunSpec
from medrobust.models.adapter import ModelAdapter

EXACT = ("samples.csv", "rows.csv", "summary.json", "summary.csv", "summary.md", "junit.xml")
TIMING = {"started", "finished", "seconds", "seconds_per_budget", "sessions", "resumed"}


def _kw(seed: int = 5) -> dict[str, Any]:
    return {"eps": [0, "2/255", "4/255"], "bootstrap": 20, "batch_size": 25, "n": 100, "seed": seed}


def _run(model: ModelAdapter, data: Any, out: Path, fail_at: int = 0, seed: int = 5, **kw: Any) -> Any:
    return medrobust.evaluate(model, data, [CountingPGD(fail_at=fail_at, steps=3)], out_dir=out, **_kw(seed), **kw)


def _manifest(folder: Path) -> dict[str, Any]:
    return {k: v for k, v in json.loads((folder / "manifest.json").read_text()).items() if k not in TIMING}


@pytest.mark.parametrize("batches_done", [1, 2, 3])
def test_a_resumed_run_is_byte_identical(
    binary_model: ModelAdapter, binary_test_data: Any, tmp_path: Path, batches_done: int
) -> None:
    _run(binary_model, binary_test_data, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        _run(binary_model, binary_test_data, tmp_path / "cut", fail_at=2 * batches_done + 1)
    _run(binary_model, binary_test_data, tmp_path / "cut")
    for name in EXACT:
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert _manifest(tmp_path / "cut") == _manifest(tmp_path / "whole")


def test_two_runs_in_one_folder_never_mix(
    binary_model: ModelAdapter, binary_test_data: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alone = _run(binary_model, binary_test_data, tmp_path / "alone", seed=0)
    shared = tmp_path / "shared"
    with pytest.raises(KeyboardInterrupt):
        _run(binary_model, binary_test_data, shared, fail_at=5, seed=0)
    with pytest.raises(medrobust.ConfigError, match="holds the unfinished run"):
        _run(binary_model, binary_test_data, shared, fail_at=5, seed=1)  # another run: refused, nothing touched
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        _run(binary_model, binary_test_data, shared, fail_at=5, seed=1, overwrite=True)
    assert "unfinished run" in caplog.text and list(shared.glob("run-*/parts/*rows*"))  # kept, not overwritten
    with pytest.raises(KeyboardInterrupt):  # seed 0 again: the seed 1 parts set aside
        _run(binary_model, binary_test_data, shared, fail_at=3, seed=0, overwrite=True)
    resumed = _run(binary_model, binary_test_data, shared, seed=0)
    assert resumed.rows.equals(alone.rows)


def test_a_part_of_another_run_is_refused(binary_model: ModelAdapter, binary_test_data: Any, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _run(binary_model, binary_test_data, out, fail_at=5)
    state = json.loads((out / "state.json").read_text())
    other = tmp_path / "other"
    with pytest.raises(KeyboardInterrupt):
        _run(binary_model, binary_test_data, other, fail_at=5, seed=9)
    key = state["key"][:12]
    victim = next((out / "parts").glob(f"{key}-rows-000000.parquet"))
    foreign = next((other / "parts").glob("*-rows-000000.parquet"))
    shutil.copyfile(foreign, victim)  # same name, another run's rows inside
    with pytest.raises(medrobust.DataError, match=rf"not by this run {key}"):
        _run(binary_model, binary_test_data, out)


def test_a_second_writer_is_locked_out_before_any_attack(
    binary_model: ModelAdapter, binary_test_data: Any, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    attack = CountingPGD(steps=3)
    with FileLock(str(out / ".medrobust.lock")), pytest.raises(medrobust.ConfigError, match="another medrobust"):
        medrobust.evaluate(binary_model, binary_test_data, [attack], out_dir=out, **_kw())
    assert attack.calls == []


def test_an_unusable_out_fails_before_any_attack(
    binary_model: ModelAdapter, binary_test_data: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    attack = CountingPGD(steps=3)
    for out in (blocker, blocker / "below"):
        with pytest.raises(medrobust.ConfigError, match="cannot write the results folder"):
            medrobust.evaluate(binary_model, binary_test_data, [attack], out_dir=out, **_kw())
    assert attack.calls == []


def test_the_run_key_ignores_the_output_folder_so_a_moved_folder_resumes(
    binary_model: ModelAdapter, binary_test_data: Any, tmp_path: Path
) -> None:
    spec = RunSpec.build(attacks=["fgsm"])
    data = synthetic(8, seed=0)
    assert plan_run(binary_model, data, spec, tmp_path / "a").key == plan_run(binary_model, data, spec, "b").key
    with pytest.raises(KeyboardInterrupt):
        _run(binary_model, binary_test_data, tmp_path / "before", fail_at=5)
    shutil.move(tmp_path / "before", tmp_path / "after")
    attack = CountingPGD(steps=3)
    medrobust.evaluate(binary_model, binary_test_data, [attack], out_dir=tmp_path / "after", **_kw())
    assert sum(1 for e, _ in attack.calls if e > 0) == 2 * 2  # 4 batches of 25, 2 already done
