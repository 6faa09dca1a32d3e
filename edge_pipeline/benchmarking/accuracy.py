"""Top-1 accuracy against labels (agreement with a reference is benchmarking/fidelity.py)."""

from __future__ import annotations

import numpy as np


def top1_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean() * 100.0)

