"""A small CNN for 2D or 3D inputs: the demo model, and the tests' and benchmarks' model."""

from __future__ import annotations

from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Two conv blocks and a linear head; works for any input size (adaptive pooling)."""

    def __init__(self, in_channels: int = 1, num_outputs: int = 2, spatial_dims: int = 2, width: int = 16) -> None:
        super().__init__()
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        gap = nn.AdaptiveAvgPool2d(4) if spatial_dims == 2 else nn.AdaptiveAvgPool3d(2)
        cells = 16 if spatial_dims == 2 else 8
        self.features = nn.Sequential(
            conv(in_channels, width, 3, padding=1),
            nn.ReLU(),
            pool(2),
            conv(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            pool(2),
            gap,
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * width * cells, 64), nn.ReLU(), nn.Linear(64, num_outputs)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
