"""The model fingerprint covers structure and code, not only weights (issue 17, item 2).

A parameter-free change (a quantiser's levels, a logit scale, a defence wrapper) must never
load another model's finished run from a shared results folder; a model that cannot be
fingerprinted reliably is reused only on explicit resume.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import medrobust
from medrobust.cli.commands import main
from medrobust.datasets.synthetic import synthetic
from medrobust.models.adapter import ModelAdapter
from medrobust.models.fingerprint import ModelFingerprint, fingerprint_module
from medrobust.models.small_cnn import SmallCNN


class Quant(nn.Module):
    """Round the input to ``levels`` grey levels: no parameters, so the weights cannot tell 4 from 64."""

    def __init__(self, net: nn.Module, levels: int) -> None:
        super().__init__()
        self.net = net
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * (self.levels - 1)) / (self.levels - 1))


class LogitScale(nn.Module):
    """Multiply the logits by ``scale``."""

    def __init__(self, net: nn.Module, scale: float) -> None:
        super().__init__()
        self.net = net
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale


class Clip(nn.Module):
    """A defence without parameters or attributes: clip the intensities before the model."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.clamp(0.25, 0.75))


class Holder(nn.Module):
    """The model after ``fn``, whatever ``fn`` is (a lambda, a builtin, an object)."""

    def __init__(self, net: nn.Module, fn: Any) -> None:
        super().__init__()
        self.net = net
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Levels(nn.Module):
    """A scriptable quantiser on its own."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * (self.levels - 1)) / (self.levels - 1)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return SmallCNN(1, 2, width=4)


def _fp(model: nn.Module) -> ModelFingerprint:
    fp = fingerprint_module(model)
    assert fp.reliable, fp.reasons
    return fp


def _scripted(module: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, still what TorchScript files hold
        return torch.jit.script(module)


def test_parameter_free_changes_change_the_fingerprint() -> None:
    bare = _fp(_net()).digest
    digests = [
        bare,
        _fp(Quant(_net(), 4)).digest,
        _fp(Quant(_net(), 64)).digest,
        _fp(LogitScale(_net(), 0.5)).digest,
        _fp(LogitScale(_net(), 2.0)).digest,
        _fp(Clip(_net())).digest,
    ]
    assert len(set(digests)) == len(digests)


def test_the_same_model_built_twice_has_one_fingerprint() -> None:
    assert _fp(Quant(_net(), 4)) == _fp(Quant(_net(), 4))
    a = ModelAdapter(Quant(_net(), 4), "binary", num_outputs=2)
    assert a.fingerprint() == ModelAdapter(Quant(_net(), 4), "binary", num_outputs=2).fingerprint()
    assert a.model_fingerprint().reliable


def test_the_adapter_adds_preprocessing_head_and_bounds() -> None:
    def adapter(**kw: Any) -> str:
        return ModelAdapter(_net(), **{"head": "binary", "num_outputs": 2, **kw}).fingerprint()

    base = adapter()
    assert base == adapter()
    assert len({base, adapter(std=0.5), adapter(mean=0.1), adapter(threshold=0.3), adapter(bounds=(0.0, 255.0))}) == 5


def test_edited_code_under_the_same_class_name_changes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = """
        import torch
        from torch import nn

        class Defence(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x.clamp({low}, 1.0)
    """
    digests = []
    for low in ("0.0", "0.5"):
        path = tmp_path / low / "user_defence.py"
        path.parent.mkdir()
        path.write_text(textwrap.dedent(source.format(low=low)))
        spec = importlib.util.spec_from_file_location("user_defence", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "user_defence", module)
        spec.loader.exec_module(module)
        digests.append(_fp(module.Defence()).digest)
    assert digests[0] != digests[1]


def test_the_fingerprint_is_the_same_in_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fp_models.py").write_text(
        textwrap.dedent("""
        import torch
        from torch import nn
        from medrobust.models.adapter import ModelAdapter
        from medrobust.models.small_cnn import SmallCNN

        class Quant(nn.Module):
            def __init__(self, net, levels):
                super().__init__()
                self.net, self.levels, self.post = net, levels, {"b": lambda z: z * 2, "a": {1, 2, 3}}

            def forward(self, x):
                return self.net(torch.round(x * (self.levels - 1)) / (self.levels - 1))

        def digest():
            torch.manual_seed(0)
            model = Quant(SmallCNN(1, 2, width=4), 4)
            fp = ModelAdapter(model, "binary", num_outputs=2, mean=0.5, std=0.25).model_fingerprint()
            return f"{fp.digest} {fp.reliable}"
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fp_models", raising=False)  # removed again after the test
    import fp_models  # type: ignore[import-not-found]

    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    other = subprocess.run(
        [sys.executable, "-c", "import fp_models; print(fp_models.digest())"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert other.stdout.split() == fp_models.digest().split()
    assert other.stdout.split()[1] == "True"


def test_torchscript_code_attributes_and_constants_count() -> None:
    assert _fp(_scripted(Levels(4))) == _fp(_scripted(Levels(4)))
    assert _fp(_scripted(Levels(4))) != _fp(_scripted(Levels(64)))  # an attribute the code reads
    x = torch.rand(1, 1, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = [torch.jit.trace(Levels(n), x) for n in (4, 64)]
    assert _fp(traced[0]) != _fp(traced[1])  # the trace inlined the levels as constants

    def double(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    def increment(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        functions = [torch.jit.script(f) for f in (double, increment)]
    assert _fp(Holder(_net(), functions[0])) != _fp(Holder(_net(), functions[1]))
    assert _fp(Quant(_scripted(Levels(4)), 4)) != _fp(Quant(_scripted(Levels(64)), 4))  # a script module inside


def test_lambdas_closures_and_builtins_are_hashed_by_code_or_name() -> None:
    def times(k: float) -> Any:
        return lambda z: z * k

    fps = [
        _fp(Holder(_net(), lambda z: z * 2)),
        _fp(Holder(_net(), lambda z: z * 3)),
        _fp(Holder(_net(), times(2.0))),
        _fp(Holder(_net(), times(3.0))),
        _fp(Holder(_net(), torch.relu)),
        _fp(Holder(_net(), torch.sigmoid)),
    ]
    assert len({fp.digest for fp in fps}) == len(fps)
    assert _fp(Holder(_net(), lambda z: z * 2)) == fps[0]  # the same code, written again


def test_what_cannot_be_read_makes_it_unreliable() -> None:
    fp = fingerprint_module(Holder(_net(), torch.Generator().manual_seed(0)))
    assert not fp.reliable and "model.fn" in fp.explain() and "Generator" in fp.explain()
    made = type("Made", (nn.Module,), {"forward": lambda self, x: x})  # a class with no source to read
    fp = fingerprint_module(Holder(made(), None))
    assert not fp.reliable and "source of class" in fp.explain()


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    """A small CNN trained on synthetic lesions, so quantising its input changes its numbers."""
    from medrobust.heads import make_head
    from medrobust.models.training import train_classifier

    torch.manual_seed(0)
    net = SmallCNN(1, 2, width=8)
    train_classifier(net, synthetic(400, seed=11), make_head("binary", 2), epochs=3, seed=0)
    return net


KW: dict[str, Any] = {"attacks": ["fgsm"], "eps": [0, 8 / 255], "bootstrap": 0, "n": 40, "batch_size": 40}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (lambda net: Quant(net, 4), lambda net: Quant(net, 64)),
        (lambda net: Quant(net, 4), lambda net: LogitScale(net, 0.1)),
        (lambda net: Quant(net, 4), Clip),
    ],
    ids=["levels-4-then-64", "then-logit-scale", "then-defence-wrapper"],
)
def test_a_shared_folder_never_returns_another_models_run(
    trained: nn.Module, tmp_path: Path, first: Any, second: Any
) -> None:
    data = synthetic(40, seed=3)  # the wrappers share the state_dict's names (net.*): weights alone are equal
    shared = tmp_path / "shared"
    before = medrobust.evaluate(first(trained), data, out_dir=shared, **KW)
    with pytest.raises(medrobust.ConfigError, match="holds the finished run"):  # never replaced silently
        medrobust.evaluate(second(trained), data, out_dir=shared, **KW)
    after = medrobust.evaluate(second(trained), data, out_dir=shared, overwrite=True, **KW)
    fresh = medrobust.evaluate(second(trained), data, out_dir=tmp_path / "fresh", **KW)
    assert after.manifest["medrobust_run"] != before.manifest["medrobust_run"]
    assert after.rows.equals(fresh.rows) and after.clean.equals(fresh.clean)
    assert not fresh.clean.equals(before.clean), "the two models must differ for this test to mean anything"


def test_an_unreliable_model_is_reused_only_on_explicit_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medrobust.engine import evaluate as engine

    calls: list[int] = []
    real = engine.execute

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "execute", counted)
    data = synthetic(16, seed=1)
    model = Holder(_net(), torch.Generator().manual_seed(0))
    kw = {**KW, "n": 16, "batch_size": 8, "out_dir": tmp_path / "run"}
    with caplog.at_level(logging.WARNING):
        medrobust.evaluate(model, data, **kw)
    assert len(calls) == 1 and "cannot be fingerprinted" not in caplog.text  # nothing to reuse yet: no warning
    with caplog.at_level(logging.WARNING):
        medrobust.evaluate(model, data, **kw)
    assert len(calls) == 2, "a finished run of an unreliable model was reused without --resume"
    assert "cannot be fingerprinted reliably" in caplog.text and "--resume" in caplog.text
    medrobust.evaluate(model, data, resume=True, **kw)
    assert len(calls) == 2, "resume=True must reuse the finished run"
    medrobust.evaluate(_net(), data, overwrite=True, **kw)  # a reliable model: its second run is reused
    medrobust.evaluate(_net(), data, **kw)
    assert len(calls) == 3


def test_cli_resume_flags_reach_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def run_config(cfg: Any, **kwargs: Any) -> Any:
        seen.append(cfg.resume)
        raise medrobust.ConfigError("stop here")

    monkeypatch.setattr("medrobust.engine.run.run_config", run_config)
    base = ["run", "--out", str(tmp_path / "out"), "--quiet"]
    for flags in ([], ["--resume"], ["--no-resume"]):
        result = CliRunner().invoke(main, [*base, *flags])
        assert result.exit_code == 2 and "stop here" in result.output
    assert seen == [None, True, False]
