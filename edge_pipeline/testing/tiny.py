"""A tiny residual CNN that exports, quantizes and runs in well under a second."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

SAMPLE_SHAPE = (3, 8, 8)


class TinyResidualNet(nn.Module):
    def __init__(self, width: int = 8, num_classes: int = 4):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 8, 8) -> (B, classes)
        y = F.relu(self.stem(x))
        y = F.relu(y + self.conv(y))
        return self.head(y.mean(dim=(2, 3)))


def tiny_residual_net(width: int = 8, num_classes: int = 4, seed: int = 0) -> TinyResidualNet:
    torch.manual_seed(seed)
    return TinyResidualNet(width, num_classes).eval()


def example_inputs(batch: int = 2) -> tuple[torch.Tensor]:
    return (torch.randn(batch, *SAMPLE_SHAPE),)


def labelled_arrays(count: int = 64, seed: int = 0, num_classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Inputs whose label is the brightest channel quadrant: learnable, deterministic."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, *SAMPLE_SHAPE)).astype(np.float32)
    y = (x[:, 0].reshape(count, -1).mean(axis=1) > 0).astype(np.int64) % num_classes
    return x, y
