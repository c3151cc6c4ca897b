"""Head kinds: loss, prediction at the operating threshold, correctness, label checks."""

import torch

from medrobust.heads import Head, HeadKind, make_head


def test_binary_one_logit_uses_threshold() -> None:
    head = make_head("binary", 1, threshold=0.8)
    logits = torch.tensor([[0.0], [2.0]])  # sigmoid 0.5, 0.88
    assert head.predict(logits).tolist() == [0, 1]
    assert head.correct(logits, torch.tensor([0, 1])).tolist() == [True, True]
    assert head.margin(logits, torch.tensor([0, 1])).gt(0).all()


def test_binary_two_logits_positive_score_is_class_one() -> None:
    head = make_head("binary", 2)
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert head.predict(logits).tolist() == [0, 1]
    assert torch.allclose(head.positive_score(logits), torch.softmax(logits, 1)[:, 1])


def test_multilabel_broken_when_any_finding_flips() -> None:
    head = make_head("multilabel", 3)
    y = torch.tensor([[1, 0, 1], [1, 0, 1]])
    logits = torch.tensor([[3.0, -3.0, 3.0], [3.0, 3.0, 3.0]])
    assert head.correct(logits, y).tolist() == [True, False]
    assert head.loss(logits, y).shape == (2,)


def test_multiclass_loss_is_cross_entropy_per_sample() -> None:
    head = make_head("multiclass", 3)
    logits = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    expected = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    assert torch.allclose(head.loss(logits, y), expected)


def test_label_checks_name_the_problem() -> None:
    head = Head(HeadKind.MULTICLASS, 3)
    assert head.check_labels(torch.tensor([0, 1, 2])) is None
    problem = head.check_labels(torch.tensor([0, 5]))
    assert problem is not None and "5" in problem
    ml = Head(HeadKind.MULTILABEL, 2)
    assert ml.check_labels(torch.tensor([[0, 2]])) is not None
