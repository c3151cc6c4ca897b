"""Bugs found while splitting harness/ (issue 10); each test failed before its fix."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest
import torch

import medrobust
from medrobust.attacks.fgsm import FGSM
from medrobust.attacks.pgd import PGD
from medrobust.attacks.suite import build_suite, expand
from medrobust.datasets.base import ArrayDataset, DataInfo
from medrobust.datasets.synthetic import synthetic
from medrobust.heads import Head, HeadKind
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN


def _model() -> ModelAdapter:
    torch.manual_seed(0)
    return ModelAdapter(SmallCNN(1, 2), "binary", num_outputs=2, mean=0.5, std=0.25, input_shape=(1, 28, 28))


def test_verify_leaves_the_callers_tensor_alone() -> None:
    model = _model()
    x = torch.rand(4, 1, 28, 28)
    before = x.clone()
    model.verify(x)
    assert torch.equal(x, before)


def test_datainfo_accepts_the_task_as_a_string() -> None:
    info = DataInfo("strings", "multiclass", ("a", "b", "c"))  # type: ignore[arg-type]
    assert info.task is HeadKind.MULTICLASS
    data = ArrayDataset(torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2]), info)
    torch.manual_seed(0)
    res = medrobust.evaluate(
        ModelAdapter(SmallCNN(1, 3), "multiclass", num_outputs=3), data, ["fgsm"], [0, "2/255"], bootstrap=0
    )
    assert res.summary.task == "multiclass"
    with pytest.raises(medrobust.DataError, match="unknown task"):
        DataInfo("bad", "regression", ("a",))  # type: ignore[arg-type]


def test_harness_alias_gives_the_function() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from medrobust.harness import evaluate
    assert callable(evaluate) and evaluate is medrobust.evaluate


def _loss_a(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, y.long(), reduction="none")


def _loss_b(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -logits.gather(1, y.long()[:, None]).squeeze(1)


def test_run_key_tells_custom_losses_apart(tmp_path: Path) -> None:
    data = synthetic(16, seed=1)
    out = tmp_path / "run"
    kw = {"bootstrap": 0, "out_dir": out, "eps": [0, "4/255"]}
    medrobust.evaluate(_model(), data, [PGD(steps=2, loss=_loss_a)], **kw)  # type: ignore[arg-type]
    first = json.loads((out / "manifest.json").read_text())["medrobust_run"]
    medrobust.evaluate(_model(), data, [PGD(steps=2, loss=_loss_b)], overwrite=True, **kw)  # type: ignore[arg-type]
    second = json.loads((out / "manifest.json").read_text())["medrobust_run"]
    assert first != second, "a different loss must not load the other run's results"
    assert "_loss_b" in json.dumps(json.loads((out / "manifest.json").read_text())["config"]["attacks"])


def test_unfingerprintable_callable_refuses_resume(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Loss:
        def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return _loss_a(logits, y)

    data = synthetic(16, seed=1)
    kw = {"bootstrap": 0, "out_dir": tmp_path / "run", "eps": [0, "4/255"]}
    medrobust.evaluate(_model(), data, [PGD(steps=2, loss=Loss())], **kw)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        medrobust.evaluate(_model(), data, [PGD(steps=2, loss=Loss())], **kw)  # type: ignore[arg-type]
    assert "cannot be fingerprinted" in caplog.text


def test_user_attack_replacing_a_suite_member_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    suite = build_suite("strong", Head(HeadKind.BINARY, 2))
    member = suite.members[0]
    mine = type(member)(steps=3) if hasattr(member, "steps") else member
    with caplog.at_level(logging.WARNING):
        attacks = expand([mine], [suite])
    assert mine in attacks and member not in attacks
    assert "replaces the suite member" in caplog.text


def test_corrupt_state_keeps_the_old_parts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = synthetic(32, seed=2)
    out = tmp_path / "run"
    model = _model()
    medrobust.evaluate(model, data, [FGSM()], [0, "2/255"], bootstrap=0, out_dir=out, batch_size=16)
    (out / "parts").mkdir(exist_ok=True)
    (out / "parts" / "abc-clean-000000.parquet").write_text("sample\n0\n")
    (out / "state.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        res = medrobust.evaluate(model, data, [FGSM()], [0, "2/255"], bootstrap=0, out_dir=out, batch_size=16)
    assert "unreadable run state" in caplog.text
    kept = out / "corrupt-1"
    assert (kept / "state.json").read_text() == "{not json" and (kept / "parts" / "abc-clean-000000.parquet").is_file()
    assert res.summary.n == 32


def test_evaluate_does_not_change_the_callers_adapter() -> None:
    torch.manual_seed(0)
    model = ModelAdapter(SmallCNN(1, 2), "multiclass", num_outputs=2)  # 2-logit softmax on binary data
    head_before, shape_before = model.head, model.input_shape
    medrobust.evaluate(model, synthetic(16, seed=3), ["fgsm"], [0, "2/255"], bootstrap=0)
    assert model.head == head_before and model.input_shape == shape_before


def test_margin_of_sigmoid_head_matches_the_logit_of_the_threshold() -> None:
    head = Head(HeadKind.BINARY, 1, 0.7)
    logits = torch.tensor([[0.0], [2.0]])
    m = head.margin(logits, torch.tensor([1, 0]))
    t = torch.logit(torch.tensor(0.7))
    assert torch.allclose(m, torch.stack([0.0 - t, -(2.0 - t)]), atol=1e-6)
