"""The adapter: preprocessing inside, output-shape checks, verify, eval mode restored."""

import pytest
import torch
from torch import nn

from medrobust.errors import ModelError
from medrobust.models.adapter import ModelAdapter
from medrobust.models.small_cnn import SmallCNN


def _rgb_model() -> nn.Module:
    torch.manual_seed(0)
    return SmallCNN(in_channels=3, num_outputs=4)


def test_preprocessing_is_inside_the_adapter() -> None:
    net = _rgb_model().eval()
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    adapter = ModelAdapter(net, "multiclass", mean=mean, std=std, channels=3, input_shape=(1, 28, 28))
    x = torch.rand(5, 1, 28, 28)
    manual = (x.repeat(1, 3, 1, 1) - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    assert torch.allclose(adapter.logits(x), net(manual), atol=1e-5)
    report = adapter.verify(x, reference=lambda z: net(manual))
    assert report.agree == 5 and report.deterministic


def test_verify_catches_a_wrong_normalisation() -> None:
    net = _rgb_model().eval()
    adapter = ModelAdapter(net, "multiclass", channels=3, input_shape=(1, 28, 28))  # forgot mean/std
    x = torch.rand(32, 1, 28, 28)
    native = (x.repeat(1, 3, 1, 1) - 0.5) / 0.05
    with pytest.raises(ModelError, match="differ from the native model"):
        adapter.verify(x, reference=net(native).detach())


def test_verify_catches_randomness() -> None:
    class Noisy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.randn(x.shape[0], 2)

    adapter = ModelAdapter(Noisy(), "multiclass", num_outputs=2)
    with pytest.raises(ModelError, match="different logits"):
        adapter.verify(torch.rand(4, 1, 8, 8))


def test_wrong_output_shape_fails_at_wrapping() -> None:
    net = SmallCNN(1, 10)
    with pytest.raises(ModelError, match=r"returned logits of shape \(2, 10\).*expects \(2, 1\)"):
        ModelAdapter(net, "binary", num_outputs=1, input_shape=(1, 28, 28))
    with pytest.raises(ModelError, match="failed on an input"):
        ModelAdapter(SmallCNN(3, 2), "multiclass", input_shape=(1, 2, 2, 2))


def test_output_count_is_probed_and_one_dim_binary_output_is_accepted() -> None:
    class OneDim(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x.flatten(1)).squeeze(1)

    adapter = ModelAdapter(OneDim(), "binary", input_shape=(1, 2, 2))
    assert adapter.head.num_logits == 1
    assert adapter.logits(torch.rand(3, 1, 2, 2)).shape == (3, 1)


def test_eval_mode_and_grad_flags_are_restored() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(4, 2))
    adapter = ModelAdapter(net, "multiclass", input_shape=(1, 2, 2))
    net.train()
    with adapter.evaluating(freeze=True):
        assert not net.training
        assert not any(p.requires_grad for p in net.parameters())
    assert net.training
    assert all(p.requires_grad for p in net.parameters())


def test_fingerprint_changes_with_weights() -> None:
    net = SmallCNN(1, 2)
    adapter = ModelAdapter(net, "multiclass", input_shape=(1, 28, 28))
    before = adapter.fingerprint()
    with torch.no_grad():
        next(net.parameters()).add_(1e-3)
    assert adapter.fingerprint() != before
