"""Models that misbehave on purpose, for the fault-injection tests (importable by dotted path)."""

from __future__ import annotations

import torch
from torch import nn

from edge_pipeline.testing.tiny import tiny_residual_net


class NaNOutputNet(nn.Module):
    """The tiny residual net whose every output is NaN: an export must refuse it, not pass it on."""

    def __init__(self):
        super().__init__()
        self.inner = tiny_residual_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * torch.nan


def nan_net() -> NaNOutputNet:
    return NaNOutputNet().eval()


class NaNOnOutliersNet(nn.Module):
    """Finite on ordinary inputs, NaN for a sample holding a value above ``limit``: the export's
    comparison on the first samples passes, so only a scan of all calibration samples catches it."""

    def __init__(self, limit: float = 100.0):
        super().__init__()
        self.inner = tiny_residual_net()
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.inner(x)
        outlier = x.abs().amax(dim=(1, 2, 3), keepdim=True).squeeze(-1).squeeze(-1) > self.limit
        return torch.where(outlier, torch.full_like(logits, torch.nan), logits)


def nan_on_outliers_net(limit: float = 100.0) -> NaNOnOutliersNet:
    return NaNOnOutliersNet(limit).eval()


def nan_calibration() -> dict:
    """A data provider whose third sample holds a NaN (``data.calibration.provider``)."""
    import numpy as np

    from edge_pipeline.testing.tiny import labelled_arrays

    x, y = labelled_arrays(16, seed=3)
    x[2, 0, 1, 1] = np.nan
    return {"input": x, "y": y}
