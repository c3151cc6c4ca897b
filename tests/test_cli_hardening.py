"""The CLI never shows a traceback for bad input: one line on stderr and exit 2, before anything is attacked.

Also the last-resort rule (an escaping error is an internal error, exit 2; ``--debug`` shows its
traceback) and the trust flags ``--allow-large-budgets`` and ``--allow-code``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from medrobust.cli.commands import main
from medrobust.models.registry import ALLOW_CODE_ENV

REST = ["-D", "n=8", "--attack", "fgsm", "--eps", "0,1/255", "--bootstrap", "0", "--quiet"]
FAST = ["--model", "smallcnn", "--num-classes", "2", "--random-init", *REST]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
RAN: list[str] = []


def factory(width: int = 4) -> Any:
    """A user's model factory for the ``python`` kind; records that it ran."""
    from medrobust.models.small_cnn import SmallCNN

    RAN.append("ran")
    return SmallCNN(1, 2, width=width)


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def _one_clear_line(result: Result, fragment: str, code: int = 2) -> None:
    """Exit ``code``, no traceback, and exactly one stderr line that holds ``fragment``."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def no_attack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the sweep is ever reached: the input must be refused before it."""

    def attacked(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the sweep started on bad input")

    monkeypatch.setattr("medrobust.engine.run.run_config", attacked)


BAD_FLAGS = [
    pytest.param(["--attack", "pgd:steps=abc"], "steps must be int, got 'abc'", id="attack-wrong-type"),
    pytest.param(["--attack", "pgd:nosuch=1"], "'pgd' has no parameter 'nosuch'", id="attack-unknown-param"),
    pytest.param(["--attack", "pgd:steps=!!python/object:os.system"], "YAML tags", id="attack-yaml-tag"),
    pytest.param(["-D", "n"], "--data-opt 'n' must look like KEY=VALUE", id="data-opt-no-equals"),
    pytest.param(["-M", "width"], "--model-opt 'width' must look like KEY=VALUE", id="model-opt-no-equals"),
    pytest.param(["-M", "width=!!python/name:os.system"], "YAML tags", id="model-opt-yaml-tag"),
    pytest.param(["--attack", "pgd:steps"], "parameter 'steps' must look like KEY=VALUE", id="attack-no-equals"),
    pytest.param(["--suite", "strong:steps=abc"], "steps must be int", id="suite-wrong-type"),
    pytest.param(["--mean", "0.5,x"], "--mean '0.5,x' must be comma-separated numbers", id="mean-not-numbers"),
    pytest.param(["--std", "0.2,0"], "--std '0.2,0': every value must be > 0", id="std-not-positive"),
    pytest.param(["-D", "n=0"], "synthetic data option n must be a whole number >= 1, got 0", id="synthetic-n-0"),
    pytest.param(["-D", "n=-4"], "option n must be a whole number >= 1, got -4", id="synthetic-n-negative"),
    pytest.param(["-D", "n=abc"], "option n must be a whole number >= 1, got 'abc'", id="synthetic-n-text"),
    pytest.param(["-D", "task=nosuch"], "option task must be one of", id="synthetic-task"),
    pytest.param(["--device", "nosuch"], "device 'nosuch' is not a device name; devices here: cpu", id="device-name"),
    pytest.param(["--device", "cuda:99"], "device 'cuda:99': ", id="device-cuda-99"),
    pytest.param(
        ["--mean", "0.5,0.5", "--std", "0.25"],
        "mean has 2 value(s) and std 1, but the model takes 1 channel(s)",
        id="mean-std-lengths",
    ),
]


@pytest.mark.parametrize(("extra", "fragment"), BAD_FLAGS)
def test_bad_flags_exit_2_with_one_line(extra: list[str], fragment: str, tmp_path: Path) -> None:
    result = _invoke(["run", *FAST, "--out", str(tmp_path / "out"), *extra])
    _one_clear_line(result, fragment)
    assert not (tmp_path / "out").exists()


def test_a_yaml_tag_is_never_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[Any] = []
    monkeypatch.setattr("os.system", lambda *a: called.append(a))
    result = _invoke(["run", *FAST, "--out", str(tmp_path / "o"), "-D", "n=!!python/object/apply:os.system [x]"])
    _one_clear_line(result, "YAML tags")
    assert called == []


def _unusable_out(kind: str, tmp: Path) -> Path:
    if kind == "file":
        (tmp / "afile").write_text("x")
        return tmp / "afile"
    if kind == "under-file":
        (tmp / "afile").write_text("x")
        return tmp / "afile" / "run"
    if kind in ("unwritable", "unwritable-parent"):
        if IS_ROOT:
            pytest.skip("root can write any folder")
        locked = tmp / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked if kind == "unwritable" else locked / "run"
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    return Path("/proc/medrobust-test")


OUTS = [
    pytest.param("file", "afile: is a file, not a folder", id="existing-file"),
    pytest.param("under-file", "is under", id="under-a-file"),
    pytest.param("unwritable", "cannot write the results folder (Permission denied)", id="unwritable"),
    pytest.param("unwritable-parent", "cannot write the results folder (Permission denied)", id="unwritable-parent"),
    pytest.param("proc", "--out /proc/medrobust-test: cannot write the results folder", id="proc"),
]


@pytest.mark.parametrize(("kind", "fragment"), OUTS)
def test_unusable_out_fails_before_any_attack(kind: str, fragment: str, tmp_path: Path, no_attack: None) -> None:
    out = _unusable_out(kind, tmp_path)
    try:
        result = _invoke(["run", *FAST, "--out", str(out)])
        _one_clear_line(result, fragment)
        demo = _invoke(["demo", "--n", "8", "--quiet", "--out", str(out)])
        _one_clear_line(demo, fragment)
    finally:
        if kind.startswith("unwritable"):
            (tmp_path / "locked").chmod(0o700)


def test_the_out_probe_leaves_no_folder_behind(tmp_path: Path) -> None:
    result = _invoke(["run", *FAST, "--out", str(tmp_path / "a" / "b"), "--device", "nosuch"])
    _one_clear_line(result, "nosuch")
    result = _invoke(["run", *FAST, "--out", str(tmp_path / "a" / "b"), "--mean", "0.5,0.5"])
    _one_clear_line(result, "mean has 2 value(s)")
    assert not (tmp_path / "a").exists()


def _boom(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("boom")


def test_an_escaping_error_is_an_internal_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("medrobust.engine.config.load_config", _boom)
    result = _invoke(["run", *FAST, "--out", str(tmp_path / "o")])
    _one_clear_line(result, "medrobust: internal error: RuntimeError: boom (run with --debug for the traceback)")


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("medrobust.engine.config.load_config", _boom)
    result = _invoke(["--debug", "run", *FAST, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "Traceback" in result.stderr and "RuntimeError: boom" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "medrobust: internal error: RuntimeError: boom"


def test_ctrl_c_still_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("medrobust.engine.config.load_config", interrupted)
    _one_clear_line(_invoke(["run", *FAST, "--out", str(tmp_path / "o")]), "interrupted", code=130)


def test_large_budgets_need_the_flag(tmp_path: Path) -> None:
    args = ["run", *FAST, "--eps", "0,2", "--out", str(tmp_path / "big")]
    _one_clear_line(_invoke(args), "--allow-large-budgets")
    result = _invoke([*args, "--allow-large-budgets"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "big" / "summary.json").is_file()


def test_python_models_need_allow_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    cfg = tmp_path / "code.yaml"
    cfg.write_text('model: {kind: python, name: "os:getcwd"}\n')
    _one_clear_line(_invoke(["run", "-c", str(cfg), *REST, "--out", str(tmp_path / "o")]), "--allow-code")
    RAN.clear()
    cfg.write_text(f"model: {{kind: python, name: '{__name__}:factory'}}\n")
    args = ["run", "-c", str(cfg), *REST, "--out", str(tmp_path / "o")]
    _one_clear_line(_invoke(args), "--allow-code")
    assert RAN == []
    result = _invoke([*args, "--allow-code"])
    assert result.exit_code == 0, result.output
    assert RAN == ["ran"]


def test_bench_threads_allow_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        f"models: {{mine: {{kind: python, name: '{__name__}:factory', num_classes: 2}}}}\n"
        "datasets: {syn: {kind: synthetic, n: 8}}\n"
        "attack_sets: {quick: [fgsm]}\n"
        "budgets: {tiny: [0, 1/255]}\n"
        "defaults: {bootstrap: 0}\n"
    )
    args = ["bench", str(suite), "--out", str(tmp_path / "bench"), "--quiet"]
    refused = _invoke(args)
    assert refused.exit_code == 2 and "--allow-code" in refused.output, refused.output
    RAN.clear()
    allowed = _invoke([*args, "--allow-code"])
    assert allowed.exit_code == 0, allowed.output
    assert RAN == ["ran"]


def test_bench_out_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    suite = tmp_path / "suite.yaml"
    suite.write_text("models: {m: {kind: smallcnn, random_init: true}}\ndatasets: {d: {kind: synthetic, n: 8}}\n")
    result = _invoke(["bench", str(suite), "--out", str(tmp_path / "afile"), "--quiet"])
    _one_clear_line(result, "afile: is a file, not a folder")
