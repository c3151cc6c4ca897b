"""The pytest plugin end to end with pytester: the example suite passes, fails for the right reasons,
writes its report and gates against a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import require_data

# Imported here so pytester's in-process runs reuse them instead of importing them again each run.
import medrobust.datasets.registry
import medrobust.engine.evaluate
import medrobust.gates.assertions
import medrobust.gates.compare
import medrobust.models.registry
import medrobust.models.training
import medrobust.pytest_plugin
import medrobust.reports.html
import medrobust.reports.junit
import medrobust.reports.markdown  # noqa: F401
from medrobust.models.adapter import ModelAdapter

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "robustness_suite"
N = "32"


@pytest.fixture(scope="session")
def weights(binary_model: ModelAdapter, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The suite's model as a checkpoint, and a degraded copy (noise on every weight matrix)."""
    folder = tmp_path_factory.mktemp("weights")
    state = binary_model.model.state_dict()
    torch.save(state, folder / "lesion.pt")
    g = torch.Generator().manual_seed(0)
    noisy = {k: v + 0.5 * v.std() * torch.randn(v.shape, generator=g) if v.ndim > 1 else v for k, v in state.items()}
    torch.save(noisy, folder / "degraded.pt")
    return {"good": folder / "lesion.pt", "degraded": folder / "degraded.pt"}


@pytest.fixture
def suite(pytester: pytest.Pytester, weights: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A copy of examples/robustness_suite (conftest and synthetic-data tests) with the good model."""
    pytester.makeconftest((EXAMPLE / "conftest.py").read_text())
    pytester.makepyfile(test_lesion_robustness=(EXAMPLE / "test_lesion_robustness.py").read_text())
    monkeypatch.setenv("LESION_MODEL_WEIGHTS", str(weights["good"]))
    monkeypatch.setenv("ROBUSTNESS_N", N)
    return pytester


def test_three_line_test_fails_with_the_curve_and_the_budget(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_strict="""
import pytest

@pytest.mark.robustness(attack="pgd", eps="8/255", min_accuracy=0.95)
def test_pgd_strict():
    pass

@pytest.mark.robustness(attack="pgd", eps="3/255", min_accuracy=0.5)
def test_budget_not_swept(robustness):
    pass
"""
    )
    result = suite.runpytest("-p", "no:cacheprovider", "test_strict.py")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    head = [line for line in out.splitlines() if "first falls short at" in line]
    assert head, out
    first = head[0].split("first falls short at ")[1].split(":")[0]  # e.g. 2/255
    marked = [line for line in out.splitlines() if line.lstrip().startswith("> ")]
    assert marked[0].replace(">", " ").split()[0] == first  # the headline names the first marked row
    assert "< 0.950 (min_accuracy)" in marked[0]
    result.stdout.fnmatch_lines(
        [
            "robustness of lesion-cnn on synthetic-binary-2d falls short (thresholds checked at every budget up to 8/255):",  # noqa: E501
            "*budget robust acc    drop   AUROC",
            "@pytest.mark.robustness: pgd-linf: budget 3/255 was not evaluated (evaluated: 0, 1/255, 2/255, 4/255, 8/255)*",  # noqa: E501
            "FAILED test_strict.py::test_pgd_strict: lesion-cnn on synthetic-binary-2d: pgd-linf at *",
        ]
    )


def test_suite_passes_writes_its_report_and_gates_against_it(
    suite: pytest.Pytester, weights: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = suite.runpytest("-p", "no:cacheprovider", "--robustness-report", "baseline")
    first.assert_outcomes(passed=4)
    first.stdout.fnmatch_lines(
        [
            "*= medrobust robustness checks =*",
            "PASSED test_lesion_robustness.py::test_pgd_keeps_accuracy_at_1_255: lesion-cnn on synthetic-binary-2d: pgd-linf up to 1/255: min_accuracy hold",  # noqa: E501
            f"run lesion-cnn-synthetic-binary-2d: clean accuracy *, n={N}, results in baseline*",
            "3 robustness check(s), 0 failed; 1 sweep(s)",  # one sweep shared by all four tests
        ]
    )
    index = json.loads((suite.path / "baseline" / "robustness.json").read_text())
    assert list(index["runs"]) == ["lesion-cnn-synthetic-binary-2d"]
    assert len(index["checks"]) >= 3 and all(c["ok"] for c in index["checks"])
    assert (suite.path / "baseline" / "lesion-cnn-synthetic-binary-2d" / "report.html").is_file()

    again = suite.runpytest("-p", "no:cacheprovider", "--robustness-baseline", "baseline/robustness.json")
    again.assert_outcomes(passed=4)
    again.stdout.fnmatch_lines(["run lesion-cnn-synthetic-binary-2d: *; no regression against the baseline"])

    monkeypatch.setenv("LESION_MODEL_WEIGHTS", str(weights["degraded"]))
    worse = suite.runpytest("-p", "no:cacheprovider", "--robustness-baseline", "baseline", "-k", "large_budgets")
    worse.assert_outcomes(failed=1)
    worse.stdout.fnmatch_lines(
        [
            "lesion-cnn-synthetic-binary-2d regressed against the baseline *baseline/lesion-cnn-synthetic-binary-2d (tolerance 0.02):",  # noqa: E501
            "REGRESSION: robust_accuracy, tolerance 0.02; *",
            "pgd-linf * worse  <--",
            "run lesion-cnn-synthetic-binary-2d: *; REGRESSION against the baseline",
        ]
    )


def test_missing_fixture_and_bad_baseline_are_clear(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.robustness(eps=0, min_accuracy=0.5)
def test_x():
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `robustness_model` fixture in conftest.py*"])
    bad = pytester.runpytest("-p", "no:cacheprovider", "--robustness-baseline", "nowhere")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--robustness-baseline nowhere: not a robustness.json*"])


def test_breastmnist_example_on_real_data(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real-data half of the example: BreastMNIST test split, model trained on its training split."""
    path = require_data("medmnist", "breastmnist.npz")
    monkeypatch.setenv("MEDROBUST_DATA", str(path.parents[1]))
    monkeypatch.setenv("ROBUSTNESS_N", N)
    monkeypatch.delenv("BREAST_MODEL_WEIGHTS", raising=False)
    pytester.makepyfile(test_breastmnist_robustness=(EXAMPLE / "test_breastmnist_robustness.py").read_text())
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"run breast-cnn-breastmnist: clean accuracy *, n={N}*"])
