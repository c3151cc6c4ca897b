"""Threads and batch size chosen from the machine: fake cgroup, sysfs and memory inputs, the CLI flags, the manifest."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.datasets.synthetic import synthetic
from medrobust.engine import resources
from medrobust.engine.plan import plan_run
from medrobust.engine.resources import auto_batch_size, available_memory, cgroup_cpus, default_threads
from medrobust.engine.spec import RunSpec
from medrobust.models.adapter import ModelAdapter
from medrobust.models.demo import demo_model
from medrobust.models.small_cnn import SmallCNN

GIB = 2**30


@pytest.fixture(autouse=True)
def _threads_restored() -> Iterator[None]:
    """A test that sets torch's threads hands the process back as it found it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _cpus(root: Path, cores: list[tuple[int, int]]) -> Path:
    """A fake sysfs CPU tree: CPU i on (package, core) ``cores[i]``."""
    for i, (package, core) in enumerate(cores):
        _write(root / f"cpu{i}" / "topology" / "physical_package_id", f"{package}\n")
        _write(root / f"cpu{i}" / "topology" / "core_id", f"{core}\n")
    return root


def test_omp_num_threads_wins(tmp_path: Path) -> None:
    assert default_threads({"OMP_NUM_THREADS": "3"}, cpus={0}).count == 3


def test_the_cli_lets_idle_openmp_threads_sleep_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    resources.passive_openmp_waits(env)  # torch is imported in this process: too late, nothing set
    assert env == {}
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh CLI process, before torch is imported
    resources.passive_openmp_waits(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    chosen = {"OMP_WAIT_POLICY": "ACTIVE"}
    resources.passive_openmp_waits(chosen)
    assert chosen == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_an_invalid_omp_num_threads_is_ignored(tmp_path: Path) -> None:
    cpu_root = _cpus(tmp_path / "cpu", [(0, 0), (0, 1)])
    chosen = default_threads({"OMP_NUM_THREADS": "many"}, {0, 1}, tmp_path / "none", cpu_root, tmp_path / "none")
    assert chosen.count == 2


def test_one_thread_per_physical_core_of_the_affinity(tmp_path: Path) -> None:
    cpu_root = _cpus(tmp_path / "cpu", [(0, 0), (0, 0), (0, 1), (0, 1), (1, 0), (1, 0)])  # 3 cores, 2 threads each
    no_cgroup = tmp_path / "none"
    assert default_threads({}, set(range(6)), no_cgroup, cpu_root, no_cgroup).count == 3
    assert default_threads({}, {0, 1, 2}, no_cgroup, cpu_root, no_cgroup).count == 2  # the affinity spans 2 cores
    assert default_threads({}, {4, 5}, no_cgroup, cpu_root, no_cgroup).count == 1


def test_unreadable_topology_counts_cpus(tmp_path: Path) -> None:
    none = tmp_path / "none"
    assert default_threads({}, {0, 1, 2, 3}, none, none, none).count == 4


@pytest.mark.parametrize(("cpu_max", "expected"), [("150000 100000\n", 1), ("max 100000\n", 8), ("400000 100000", 4)])
def test_cgroup_v2_quota_caps_the_threads(tmp_path: Path, cpu_max: str, expected: int) -> None:
    cgroup, proc = tmp_path / "cgroup", tmp_path / "self-cgroup"
    _write(cgroup / "cpu.max", cpu_max)
    _write(proc, "0::/\n")
    cpu_root = _cpus(tmp_path / "cpu", [(0, i) for i in range(8)])
    assert default_threads({}, set(range(8)), cgroup, cpu_root, proc).count == expected


def test_cgroup_v2_quota_of_a_parent_applies(tmp_path: Path) -> None:
    cgroup, proc = tmp_path / "cgroup", tmp_path / "self-cgroup"
    _write(cgroup / "jobs" / "cpu.max", "200000 100000\n")
    _write(cgroup / "jobs" / "mine" / "cpu.max", "max 100000\n")
    _write(proc, "0::/jobs/mine\n")
    assert cgroup_cpus(cgroup, proc) == 2.0


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    cgroup, proc = tmp_path / "cgroup", tmp_path / "self-cgroup"
    _write(cgroup / "cpu,cpuacct" / "cpu.cfs_quota_us", "300000\n")
    _write(cgroup / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    _write(proc, "4:memory:/x\n2:cpu,cpuacct:/\n")
    assert cgroup_cpus(cgroup, proc) == 3.0
    _write(cgroup / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")  # unlimited
    assert cgroup_cpus(cgroup, proc) is None


def test_available_memory_reads_meminfo_within_the_cgroup_limit(tmp_path: Path) -> None:
    meminfo, cgroup, proc = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "self-cgroup"
    _write(meminfo, "MemTotal:       32000000 kB\nMemAvailable:   16777216 kB\n")
    _write(proc, "0::/\n")
    assert available_memory(None, meminfo, cgroup, proc) == 16 * GIB
    _write(cgroup / "memory.max", f"{6 * GIB}\n")
    _write(cgroup / "memory.current", f"{2 * GIB}\n")
    assert available_memory(None, meminfo, cgroup, proc) == 4 * GIB
    assert available_memory(None, tmp_path / "none", tmp_path / "none", tmp_path / "none") is None


@pytest.mark.parametrize(
    ("shape", "expected"), [((1, 28, 28), 256), ((3, 224, 224), 64), ((1, 224, 224), 64), ((1, 64, 64, 64), 16)]
)
def test_auto_batch_size_on_a_cpu(shape: tuple[int, ...], expected: int) -> None:
    assert auto_batch_size(shape, torch.device("cpu"), available=16 * GIB)[0] == expected


def test_auto_batch_size_shrinks_with_memory_and_the_parallel_schedule() -> None:
    cpu = torch.device("cpu")
    assert auto_batch_size((1, 64, 64, 64), cpu, available=2 * GIB)[0] == 2
    assert auto_batch_size((1, 64, 64, 64), cpu, available=GIB // 8)[0] == 1  # never below one image
    assert auto_batch_size((1, 224, 224), cpu, parallel_budgets=4, available=16 * GIB)[0] == 16
    assert auto_batch_size((1, 28, 28), cpu, available=None)[0] >= 1  # whatever this machine has


def _volume_model() -> ModelAdapter:
    torch.manual_seed(0)
    return ModelAdapter(SmallCNN(1, 2, spatial_dims=3), "binary", num_outputs=2, bounds=(0.0, 1.0))


def test_the_plan_resolves_auto_and_an_explicit_size_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "available_memory", lambda device=None: 16 * GIB)
    data = synthetic(20, task="binary", spatial_dims=3, size=64, seed=1)
    auto = plan_run(_volume_model(), data, RunSpec(attacks=("fgsm",), eps=(0, "1/255")))
    assert auto.batch_size == 16 and auto.record["batch_size"] == 16
    assert [len(b) for b in auto.batches] == [16, 4]
    given = plan_run(_volume_model(), data, RunSpec(attacks=("fgsm",), eps=(0, "1/255"), batch_size=5))
    assert given.batch_size == 5 and given.record["batch_size"] == 5
    assert RunSpec.build(given.spec, batch_size="auto").batch_size is None  # "auto" resets a given size


def test_auto_is_the_old_default_for_small_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """28x28 gets 256, the fixed default before: such runs keep their run key."""
    monkeypatch.setattr(resources, "available_memory", lambda device=None: 16 * GIB)
    data = synthetic(8, task="binary", seed=1)
    model = ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, bounds=(0.0, 1.0))
    auto = plan_run(model, data, RunSpec(attacks=("fgsm",)))
    assert auto.key == plan_run(model, data, RunSpec(attacks=("fgsm",), batch_size=256)).key


def _small_demo(seed: int = 0, progress: bool = False) -> ModelAdapter:
    return demo_model(seed, n_train=96, epochs=1, progress=progress)


def test_cli_threads_and_auto_batch_size_in_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("medrobust.engine.demo.demo_model", _small_demo)
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--n", "16", "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["threads"] == 1 and manifest["config"]["batch_size"] == 256
    shown = [r.getMessage() for r in caplog.records if r.name == resources.SETTINGS_LOGGER]
    assert any("torch threads: 1 (--threads)" in m for m in shown) and any("batch size: 256" in m for m in shown)
    result = CliRunner().invoke(main, ["demo", "--n", "16", "--threads", "0", "--out", str(out)])
    assert result.exit_code == 2 and "--threads" in result.output


def test_cli_batch_size_flag_takes_a_number_or_auto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("medrobust.models.demo.demo_model", _small_demo)
    args = ["run", "--model", "demo", "--attack", "fgsm", "--eps", "0,1/255", "--n", "12", "--bootstrap", "0"]
    for given, expected in (("5", 5), ("auto", 256)):
        out = tmp_path / given
        result = CliRunner().invoke(main, [*args, "--batch-size", given, "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "manifest.json").read_text())["config"]["batch_size"] == expected
    result = CliRunner().invoke(main, [*args, "--batch-size", "lots", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--batch-size" in result.output


def test_the_demo_model_is_the_same_on_any_thread_count() -> None:
    """Its weight gradients' reductions depend on the thread count; it trains on one thread whatever is set."""
    weights = []
    for threads in (1, 3):
        torch.set_num_threads(threads)
        weights.append(demo_model(0, n_train=300, epochs=2).model.state_dict())
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_the_demo_sweep_gives_the_same_numbers_on_any_thread_count(tmp_path: Path) -> None:
    from medrobust.engine.demo import run_demo

    summaries = []
    for threads in (1, 3):
        torch.set_num_threads(threads)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("medrobust.engine.demo.demo_model", lambda seed: demo_model(seed, n_train=300, epochs=2))
            results = run_demo(tmp_path / str(threads), n=48, progress=False)
        summaries.append({a: [b.robust_accuracy for b in c.budgets] for a, c in results.summary.attacks.items()})
    assert summaries[0] == summaries[1]


def test_freed_memory_is_handed_back_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep trims the heap after every batch (glibc), and the call is harmless where there is no trim."""
    import medrobust
    from medrobust.datasets import synthetic
    from medrobust.engine import evaluate as evaluate_module
    from medrobust.engine import resources as res_module
    from medrobust.models.adapter import ModelAdapter
    from medrobust.models.small_cnn import SmallCNN

    calls: list[int] = []
    monkeypatch.setattr(evaluate_module, "release_freed_memory", lambda: calls.append(1))
    model = ModelAdapter(SmallCNN(1, 2, width=4), "binary", num_outputs=2)
    medrobust.evaluate(model, synthetic(20, task="binary"), ["fgsm"], [0, "2/255"], batch_size=8, bootstrap=0)
    assert len(calls) == 3  # 20 images in batches of 8
    res_module.release_freed_memory()  # the real one: glibc's malloc_trim here, a no-op elsewhere
    monkeypatch.setattr(res_module.sys, "platform", "darwin")
    res_module._malloc_trim.cache_clear()
    assert res_module._malloc_trim() is None
    res_module._malloc_trim.cache_clear()
