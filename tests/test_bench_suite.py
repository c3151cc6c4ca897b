"""``medrobust bench``: the grid, finished cells skipped on re-run, the combined summary, the gate.

The example suite (examples/suites/nightly.yaml) runs at a small size: twice with the same
checkpoint (the gate passes), then with a degraded one (the gate fails, exit 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from medrobust.cli.commands import main
from medrobust.errors import ConfigError
from medrobust.models.adapter import ModelAdapter
from medrobust.suites.grid import cell_config, cells, expand_env, load_suite, run_suite

NIGHTLY = Path(__file__).resolve().parents[1] / "examples" / "suites" / "nightly.yaml"
SMALL = [  # the example suite at CI size: fewer images and PGD steps
    *("--set", "defaults.n=32", "--set", "defaults.bootstrap=0", "--quiet"),
    *("--set", "attack_sets.gradient-linf=[fgsm, {name: pgd, steps: 3}]"),
    *("--set", "attack_sets.pgd-l2=[{name: pgd, norm: l2, steps: 3}]"),
    *("--set", "attack_sets.acquisition.suite={name: acquisition, mode: random, draws: 2}"),
]


@pytest.fixture(scope="module")
def checkpoints(binary_model: ModelAdapter, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model folders as the suite expects them: the trained lesion CNN, and a degraded copy."""
    good = tmp_path_factory.mktemp("models")
    bad = tmp_path_factory.mktemp("degraded")
    state = binary_model.model.state_dict()
    torch.save(state, good / "lesion-cnn.pt")
    g = torch.Generator().manual_seed(0)
    torch.save(
        {k: v + 0.5 * v.std() * torch.randn(v.shape, generator=g) if v.ndim > 1 else v for k, v in state.items()},
        bad / "lesion-cnn.pt",
    )
    return {"good": good, "degraded": bad}


def _bench(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["bench", str(NIGHTLY), *map(str, args), *SMALL])
    return result.exit_code, result.output


def test_example_suite_resumes_gates_and_catches_a_degraded_model(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDROBUST_MODELS", str(checkpoints["good"]))
    first, second = tmp_path / "night1", tmp_path / "night2"

    code, out = _bench("--out", first, "--only", "lesion-cnn__*__linf")  # interrupted after one cell
    assert code == 0, out
    code, out = _bench("--out", first)
    assert code == 0, out
    assert "  cached  lesion-cnn__synthetic-lesions__gradient-linf__linf" in out
    assert "    done  lesion-cnn__synthetic-lesions__pgd-l2__l2" in out
    assert "skipped  breast-cnn__breastmnist__gradient-linf__linf" in out  # no breast checkpoint: optional
    bench = json.loads((first / "bench.json").read_text())
    by_cell = {c["cell"]: c for c in bench["cells"]}
    linf = by_cell["lesion-cnn__synthetic-lesions__gradient-linf__linf"]
    assert set(linf["curves"]) == {"fgsm-linf", "pgd-linf"} and linf["n"] == 32
    assert (first / linf["folder"] / "report.html").is_file()
    assert "| lesion-cnn__synthetic-lesions__pgd-l2__l2 | done | 32 |" in (first / "bench.md").read_text()
    acquisition = by_cell["lesion-cnn__synthetic-lesions__acquisition__severity"]  # its severity list only
    assert {"noise-random", "blur-random", "acquisition-severity"} <= set(acquisition["curves"])
    assert set(acquisition["corruption"]) == {"random"}
    assert not any(c.endswith(("acquisition__linf", "acquisition__l2", "linf__severity")) for c in by_cell)

    code, out = _bench("--out", second, "--baseline", first)
    assert code == 0, out
    assert json.loads((second / "bench.json").read_text())["gate"]["verdict"] == "PASS"

    monkeypatch.setenv("MEDROBUST_MODELS", str(checkpoints["degraded"]))
    code, out = _bench("--out", tmp_path / "night3", "--baseline", first, "--only", "*__linf")
    assert code == 1, out
    assert "REGRESSION in lesion-cnn__synthetic-lesions__gradient-linf__linf" in out
    summary = (tmp_path / "night3" / "bench.md").read_text()
    assert "Gate against" in summary and "**REGRESSION**" in summary and "| pgd-linf | 1/255 |" in summary


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


GRID = """
name: grid
models:
  a: {kind: smallcnn, datasets: [syn]}
  b: {kind: smallcnn}
datasets:
  syn: {kind: synthetic, n: 8}
  other: {kind: synthetic, n: 8, seed: 3}
attack_sets:
  linf: [fgsm]
  l2: [{name: pgd, norm: l2}]
budgets:
  small: [0, 1/255]
  l2: [0, 0.1]
exclude:
  - {attacks: linf, budgets: l2}
  - {attacks: l2, budgets: small}
"""


def test_grid_pairs_models_with_their_datasets_and_drops_excluded_cells(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, GRID))
    ids = [c.id for c in cells(suite)]
    assert ids == [
        "a__syn__linf__small",
        "a__syn__l2__l2",
        "b__syn__linf__small",
        "b__syn__l2__l2",
        "b__other__linf__small",
        "b__other__l2__l2",
    ]
    assert [c.id for c in cells(suite, only=["b__other__*"])] == ["b__other__linf__small", "b__other__l2__l2"]


def test_an_attack_set_in_the_long_form_pairs_with_its_budget_lists_only(tmp_path: Path) -> None:
    text = GRID.replace("  l2: [0, 0.1]\n", "  l2: [0, 0.1]\n  severity: [0, 1, 2]\n")
    text = text.replace("  l2: [{name: pgd, norm: l2}]\n", "  l2: [{name: pgd, norm: l2}]\n  shifts: {attacks: [blur, "
                        "{name: noise, mode: adversarial}], budgets: [severity]}\n  acq: {suite: acquisition, "
                        "budgets: [severity]}\n")  # fmt: skip
    text += "  - {attacks: linf, budgets: severity}\n  - {attacks: l2, budgets: severity}\n"
    suite = load_suite(_suite(tmp_path, text))
    ids = [c.id for c in cells(suite) if c.model == "a"]
    assert ids == ["a__syn__linf__small", "a__syn__l2__l2", "a__syn__shifts__severity", "a__syn__acq__severity"]
    cfg = cell_config(suite, cells(suite)[3], tmp_path / "cell")
    assert cfg.suite == "acquisition" and cfg.attacks == () and cfg.eps == (0, 1, 2)
    unpaired = text.replace(", budgets: [severity]}\n  acq", "}\n  acq")
    with pytest.raises(ConfigError, match="attack set 'shifts' holds acquisition shifts"):
        load_suite(_suite(tmp_path, unpaired))
    with pytest.raises(ConfigError, match=r"unknown budget list\(s\) \['sev'\]"):
        load_suite(_suite(tmp_path, text.replace("budgets: [severity]}\n  acq", "budgets: [sev]}\n  acq")))


def test_environment_variables_expand_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELS", "/m")
    monkeypatch.delenv("NOPE", raising=False)
    assert expand_env({"w": ["${MODELS}/x.pt", "${NOPE:-d}/y"]}) == {"w": ["/m/x.pt", "d/y"]}
    with pytest.raises(ConfigError, match="environment variable NOPE is not set"):
        expand_env("${NOPE}/x")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("models: {}\n", "datasets: Field required"),
        ("models: {a: {kind: demo, datasets: [nope]}}\ndatasets: {syn: {kind: synthetic}}\n", "unknown dataset"),
        (
            "models: {a: {kind: demo}}\ndatasets: {s: {kind: synthetic}}\nexclude: [{modle: a}]\n",
            "allowed keys are model",
        ),
        ("models: [a]\n", "invalid suite"),
        ("gate: {tolerance: -1}\nmodels: {a: {kind: demo}}\ndatasets: {s: {kind: synthetic}}\n", "tolerance must be"),
    ],
)
def test_bad_suites_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = _suite(tmp_path, text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_suite(path)
    assert str(path) in str(info.value)


def test_a_missing_checkpoint_fails_its_cell_and_the_suite(tmp_path: Path) -> None:
    path = _suite(
        tmp_path,
        """
models:
  m: {kind: smallcnn, weights: missing.pt}
datasets:
  s: {kind: synthetic, n: 8}
""",
    )
    run = run_suite(path, out=tmp_path / "out")
    assert run.exit_code == 2
    assert run.cells[0].status == "error" and "missing.pt does not exist" in run.cells[0].message
    assert json.loads((tmp_path / "out" / "bench.json").read_text())["gate"]["verdict"] == "ERROR"
    result = CliRunner().invoke(main, ["bench", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "suite file not found" in result.output
