"""One frozen run spec, built by every front end and handed whole to the engine (issue 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

import medrobust
from medrobust.attacks.fgsm import FGSM
from medrobust.datasets.synthetic import synthetic
from medrobust.engine.config import RunConfig, load_config
from medrobust.engine.plan import plan_run
from medrobust.engine.spec import DEFAULT_BUDGETS, RunSpec, SweepOptions
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN

ROOT = Path(__file__).resolve().parents[1]


def _model() -> ModelAdapter:
    return ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2)


def test_the_spec_is_frozen_and_validated() -> None:
    spec = RunSpec(seed=3)
    with pytest.raises(pydantic.ValidationError):
        spec.seed = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match="unknown run option"):
        RunSpec.build(batchsize=3)
    with pytest.raises(ConfigError, match="ascending"):
        RunSpec.build(eps=["2/255", "1/255"])
    with pytest.raises(ConfigError, match="unknown attack"):
        RunSpec.build(attacks=["nope"])


def test_build_keeps_the_base_and_applies_changes() -> None:
    attack = FGSM()
    base = RunSpec.build(attacks=[attack], seed=5, schedule="parallel")
    changed = RunSpec.build(base, n=10, eps=None)
    assert changed.attacks == (attack,) and changed.attacks[0] is attack  # objects kept, not rebuilt
    assert (changed.seed, changed.n, changed.schedule, changed.eps) == (5, 10, "parallel", DEFAULT_BUDGETS)
    assert isinstance(changed, SweepOptions) and changed.sweep_options().changed() == {"schedule": "parallel"}


def test_a_run_config_is_a_spec_and_hands_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("attacks: [fgsm]\neps: [0, 2/255]\nseed: 7\nschedule: parallel\nmodel: {kind: demo}\n")
    cfg = load_config(path, {"n": 16})
    assert isinstance(cfg, RunSpec)
    spec = cfg.spec()
    assert type(spec) is RunSpec
    assert (spec.attacks, spec.eps, spec.seed, spec.n, spec.schedule) == (("fgsm",), (0, "2/255"), 7, 16, "parallel")
    assert "model" in cfg.provenance() and "seed" not in cfg.provenance()


def test_config_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("schedule: sideways\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid configuration: schedule"):
        load_config(path)


def test_keywords_and_a_spec_give_the_same_run_key() -> None:
    data, model = synthetic(8, seed=0), _model()
    a = plan_run(model, data, RunSpec.build(attacks=["fgsm"], eps=[0, "1/255"], seed=1))
    b = plan_run(model, data, RunSpec.build(attacks=[FGSM()], eps=(0, "1/255"), seed=1))
    c = plan_run(model, data, RunSpec.build(attacks=["fgsm"], eps=[0, "1/255"], seed=2))
    assert a.key == b.key != c.key


def test_every_spec_field_joins_the_run_key_unless_declared_outside() -> None:
    data, model = synthetic(8, seed=0), _model()
    base = plan_run(model, data, RunSpec.build(attacks=["fgsm"])).key
    changes = {"bootstrap": 3, "batch_size": 4, "subgroups": ["sex"], "channels_last": True, "suite": "strong"}
    for name, value in changes.items():
        assert plan_run(model, data, RunSpec.build(attacks=["fgsm"], **{name: value})).key != base, name
    assert plan_run(model, data, RunSpec.build(attacks=["fgsm"], known_robust=True)).key == base


def test_evaluate_takes_a_spec_and_keyword_overrides() -> None:
    data = synthetic(12, seed=0)
    spec = RunSpec.build(attacks=["fgsm"], eps=[0, "2/255"], bootstrap=0)
    res = medrobust.evaluate(_model(), data, spec=spec, n=6, verify=False)
    assert res.manifest["config"]["n"] == 6 and res.manifest["config"]["eps"][1]["label"] == "2/255"
    with pytest.raises(ConfigError, match="unknown run option"):
        medrobust.evaluate(_model(), data, spec=spec, batchsize=4)


def test_the_default_budgets_are_written_in_one_place() -> None:
    spelled = re.compile(r"""["']1/255["'],\s*["']2/255["'],\s*["']4/255["'],\s*["']8/255["']""")
    where = [str(p.relative_to(ROOT)) for p in (ROOT / "medrobust").rglob("*.py") if spelled.search(p.read_text())]
    assert where == ["medrobust/engine/spec.py"]


def test_run_config_accepts_the_published_yaml_keys() -> None:
    keys = set(RunConfig.model_fields)
    published = {"model", "data", "attacks", "eps", "n", "batch_size", "seed", "subgroups", "out", "device"}
    published |= {"bootstrap", "resume", "suite", "strict", "known_robust", "schedule", "precision", "channels_last"}
    published |= {"allow_large_budgets", "random_passes", "overwrite", "write_adversarial", "executor", "ray"}
    published |= {"reference"}
    assert published == keys


@pytest.mark.parametrize("eps", [1.0, 2.0, 1e30])
def test_a_budget_beyond_the_bounds_is_refused(eps: float, caplog: pytest.LogCaptureFixture) -> None:
    data, model = synthetic(8, seed=0), _model()
    with pytest.raises(ConfigError, match="--allow-large-budgets"):
        plan_run(model, data, RunSpec.build(attacks=["fgsm"], eps=[0, eps]))
    plan_run(model, data, RunSpec.build(attacks=["fgsm"], eps=[0, eps], allow_large_budgets=True))
    assert "measures nothing" in caplog.text


def test_an_l2_budget_is_measured_against_the_l2_diameter() -> None:
    data, model = synthetic(8, seed=0), _model()
    plan_run(model, data, RunSpec.build(attacks=[{"name": "pgd", "norm": "l2"}], eps=[0, 2.0]))  # 28 x 28: fine
    with pytest.raises(ConfigError, match="l2 diameter 28"):
        plan_run(model, data, RunSpec.build(attacks=[{"name": "pgd", "norm": "l2"}], eps=[0, 30.0]))
