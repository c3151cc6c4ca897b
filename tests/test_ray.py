"""Ray (issue 14): sharded runs and suite cells on a local Ray instance give the serial numbers.

A sharded run's rows and summary equal the single-process run's; a worker killed mid-batch is
restarted and its batch retried to the same numbers (the manifest says which shard); a run
stopped by Ctrl-C resumes from its written parts; a suite's cells as Ray tasks give the serial
suite's outputs, and a cell whose worker died resumes from its finished batches. Without the
``[ray]`` extra, ``--ray`` is a clear error, and the serial path never imports Ray.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.datasets.synthetic import synthetic
from medrobust.engine.evaluate import evaluate
from medrobust.engine.ray_runtime import RayOptions
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter
from medrobust.results.results import Results
from medrobust.suites.grid import run_suite

evaluate_module = importlib.import_module("medrobust.engine.evaluate")
TESTS = Path(__file__).resolve().parent
RUN = {"attacks": ["fgsm", {"name": "pgd", "steps": 3}], "eps": [0, "2/255", "8/255"], "batch_size": 8, "bootstrap": 20}
TIMINGS = {"seconds"}
RUN_CLI = {"eps": [0, "2/255"], "batch_size": 8, "bootstrap": 0}


@pytest.fixture(scope="module")
def ray_instance() -> Any:
    """One local Ray instance (2 CPUs) for the module; its workers import this folder's helpers."""
    if os.environ.get("CI") == "true":
        import ray  # CI installs the [ray] extra: a missing Ray fails here instead of skipping
    else:
        ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The single-process runs here use one torch thread, as each 1-CPU Ray worker does (docs/ray.md).

    CPU kernels sum in another order with another thread count: scores then differ in the
    seventh digit, and the runs compared bit for bit would differ for that reason alone.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _same_summaries(a: Results, b: Results) -> None:
    assert a.rows.equals(b.rows)
    assert a.clean.equals(b.clean)
    assert a.summary.model_dump(mode="json") == b.summary.model_dump(mode="json")


def test_a_sharded_run_equals_the_single_process_run(
    ray_instance: Any, binary_model: ModelAdapter, tmp_path: Path
) -> None:
    data = synthetic(48, seed=5)
    serial = evaluate(binary_model, data, out_dir=tmp_path / "serial", **RUN)
    sharded = evaluate(binary_model, data, out_dir=tmp_path / "ray", executor=RayOptions(shards=2), **RUN)
    _same_summaries(serial, sharded)
    saved = Results.load(tmp_path / "ray")
    assert saved.summary.model_dump(mode="json") == serial.summary.model_dump(mode="json")
    record = json.loads((tmp_path / "ray" / "manifest.json").read_text())["executor"]
    assert record["kind"] == "ray" and record["shards"] == 2 and record["restarted_shards"] == []
    assert json.loads((tmp_path / "serial" / "manifest.json").read_text())["executor"] == {"kind": "serial"}
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["medrobust_run"] == json.loads((tmp_path / "serial" / "manifest.json").read_text())["medrobust_run"]


def test_a_killed_worker_is_restarted_and_its_batch_retried(
    ray_instance: Any, binary_model: ModelAdapter, tmp_path: Path
) -> None:
    from ray_faults import DiesOnce

    data = synthetic(48, seed=5)
    marker = tmp_path / "died"
    fragile = ModelAdapter(
        DiesOnce(binary_model.model, marker, driver=os.getpid(), after=30),
        binary_model.head,
        bounds=binary_model.bounds,
        input_shape=binary_model.input_shape,
        name="small-binary",
    )
    reference = evaluate(binary_model, data, **RUN)
    out = evaluate(fragile, data, out_dir=tmp_path / "ray", executor=RayOptions(shards=2, max_retries=2), **RUN)
    assert marker.exists(), "no worker died: the test did not test a fault"
    _same_summaries(reference, out)
    record = json.loads((tmp_path / "ray" / "manifest.json").read_text())["executor"]
    assert len(record["restarted_shards"]) == 1


def test_an_interrupted_sharded_run_resumes_to_the_same_numbers(
    ray_instance: Any, binary_model: ModelAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = synthetic(48, seed=5)
    reference = evaluate(binary_model, data, **RUN)
    finished: list[int] = []

    def interrupt_after_two() -> None:  # Ctrl-C on the driver once two batches are written
        finished.append(1)
        if len(finished) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "release_freed_memory", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        evaluate(binary_model, data, out_dir=tmp_path / "run", executor="ray", **RUN)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert len(state["done"]) == 2 and not state["complete"]
    monkeypatch.undo()
    resumed = evaluate(binary_model, data, out_dir=tmp_path / "run", **RUN)  # serially: the same run key
    _same_summaries(reference, resumed)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["resumed"] is True


def _suite(tmp_path: Path, weights: Path, model: dict[str, Any] | None = None) -> Path:
    spec = {
        "name": "ray-test",
        "defaults": {"n": 32, "batch_size": 8, "bootstrap": 0, "seed": 0, "device": "cpu"},
        "models": {
            "cnn": model
            or {"kind": "smallcnn", "weights": str(weights), "num_classes": 2, "head": "binary", "width": 16}
        },
        "datasets": {
            "lesions": {"kind": "synthetic", "n": 64, "task": "binary", "seed": 3},
            "lesions-b": {"kind": "synthetic", "n": 64, "task": "binary", "seed": 4},
        },
        "attack_sets": {"fgsm": ["fgsm"], "pgd": [{"name": "pgd", "steps": 3}]},
        "budgets": {"small": [0, "1/255", "2/255"], "large": [0, "4/255", "8/255"]},
    }
    path = tmp_path / ("fragile.yaml" if model else "suite.yaml")
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def _without_timings(bench: dict[str, Any]) -> dict[str, Any]:
    return {**bench, "cells": [{k: v for k, v in c.items() if k not in TIMINGS} for c in bench["cells"]]}


@pytest.fixture(scope="module")
def weights(binary_model: ModelAdapter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "cnn.pt"
    torch.save(binary_model.model.state_dict(), path)
    return path


def test_suite_cells_as_ray_tasks_equal_the_serial_suite(ray_instance: Any, weights: Path, tmp_path: Path) -> None:
    suite = _suite(tmp_path, weights)
    serial = run_suite(suite, out=tmp_path / "serial")
    on_ray = run_suite(suite, out=tmp_path / "ray", ray=True)
    assert serial.exit_code == on_ray.exit_code == 0
    assert [c.status for c in on_ray.cells] == ["done"] * 8
    a = json.loads((tmp_path / "serial" / "bench.json").read_text())
    b = json.loads((tmp_path / "ray" / "bench.json").read_text())
    assert _without_timings(a) == _without_timings(b)
    for cell in serial.cells:
        assert (tmp_path / "serial" / cell.id / "summary.json").read_text() == (
            tmp_path / "ray" / cell.id / "summary.json"
        ).read_text()
    again = run_suite(suite, out=tmp_path / "ray", ray=True)  # finished cells are skipped, as serially
    assert [c.status for c in again.cells] == ["cached"] * 8


def test_a_cell_whose_worker_died_is_retried_and_resumed(ray_instance: Any, weights: Path, tmp_path: Path) -> None:
    marker = tmp_path / "died"
    model = {
        "kind": "python",
        "name": "ray_faults:dies_once_cnn",
        "weights_file": str(weights),
        "num_classes": 2,
        "head": "binary",
        "marker": str(marker),
        "driver": os.getpid(),
        "after": 40,
    }
    suite = _suite(tmp_path, weights, model)
    only = ("cnn__lesions__pgd__large",)
    reference = run_suite(_suite(tmp_path, weights), out=tmp_path / "ref", only=only)
    run = run_suite(suite, out=tmp_path / "ray", only=only, ray=True, allow_code=True)
    assert marker.exists(), "no worker died: the test did not test a fault"
    (cell,) = run.cells
    assert cell.status == "done" and cell.attempts == 2
    assert json.loads((tmp_path / "ray" / "bench.json").read_text())["cells"][0]["attempts"] == 2
    manifest = json.loads((tmp_path / "ray" / cell.id / "manifest.json").read_text())
    assert manifest["resumed"] is True  # the second attempt started from the first one's batches
    assert reference.exit_code == 0
    _same_summaries(Results.load(tmp_path / "ref" / cell.id), Results.load(tmp_path / "ray" / cell.id))


def test_ray_without_the_extra_is_a_clear_error(
    binary_model: ModelAdapter, weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ConfigError, match=r"medrobust\[ray\]"):
        evaluate(binary_model, synthetic(8), executor="ray")
    result = CliRunner().invoke(main, ["bench", str(_suite(tmp_path, weights)), "--ray", "--quiet"])
    assert result.exit_code == 2
    assert "needs Ray, which is not installed" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["run", "--model", "demo", "--shards", "2"])
    assert result.exit_code == 2 and "--shards and --ray-address go with --ray" in result.output


def test_the_serial_path_imports_no_ray() -> None:
    code = (
        "import sys, medrobust.cli, medrobust.engine.evaluate, medrobust.suites.grid, medrobust.engine.run;"
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_cli_runs_a_config_sharded_and_a_suite_on_ray(ray_instance: Any, weights: Path, tmp_path: Path) -> None:
    """``run --config C --ray --shards 2`` and ``bench S --out O --ray``, as the Ray page shows them."""
    config = tmp_path / "chexpert.yaml"
    config.write_text(
        json.dumps({"model": {"kind": "demo"}, "data": {"kind": "synthetic", "n": 24}, "attacks": ["fgsm"], **RUN_CLI})
    )
    result = CliRunner().invoke(
        main, ["run", "--config", str(config), "--ray", "--shards", "2", "--out", str(tmp_path / "run"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "manifest.json").read_text())["executor"]
    assert record["kind"] == "ray" and record["shards"] == 2
    suite = _suite(tmp_path, weights)
    result = CliRunner().invoke(main, ["bench", str(suite), "--out", str(tmp_path / "bench"), "--ray", "--quiet"])
    assert result.exit_code == 0, result.output
    assert [c["status"] for c in json.loads((tmp_path / "bench" / "bench.json").read_text())["cells"]] == ["done"] * 8
