"""Non-finite logits are refused, not counted as class 0 (issue 11, item 5)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import medrobust
from medrobust.datasets.synthetic import synthetic
from medrobust.models.adapter import ModelAdapter


class NaNOnBright(nn.Module):
    """Logits that are NaN for images brighter than a threshold, finite otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(28 * 28, 2)

    def forward(self, x: Tensor) -> Tensor:
        out = self.lin(x.flatten(1))
        bright = x.flatten(1).mean(dim=1, keepdim=True) > self.cut
        return torch.where(bright, torch.full_like(out, float("nan")), out)

    cut = 10.0


def test_nan_logits_name_the_model_and_the_first_sample() -> None:
    data = synthetic(64, seed=3)
    net = NaNOnBright()
    model = ModelAdapter(net, "binary", num_outputs=2, name="nan-net")
    medrobust.evaluate(model, data, ["fgsm"], [0, "2/255"], bootstrap=0)  # finite everywhere: runs
    means = data.images.flatten(1).mean(dim=1)
    net.cut = float(means.sort().values[-2])  # only the brightest sample gives NaN
    first = data.sample_id(int(means.argmax()))
    with pytest.raises(medrobust.ModelError, match=rf"nan-net returned NaN or infinite logits .*sample {first}"):
        medrobust.evaluate(model, data, ["fgsm"], [0, "2/255"], bootstrap=0, verify=False)
