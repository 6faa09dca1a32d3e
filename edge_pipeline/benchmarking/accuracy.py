"""Accuracy against labels and agreement against a reference model's outputs."""

from __future__ import annotations

import numpy as np


def top1_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean() * 100.0)


def agreement(logits: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Top-1 agreement (percent of samples with the same argmax) and the largest |difference|."""
    return {
        "top1_agreement": float((logits.argmax(axis=1) == reference.argmax(axis=1)).mean() * 100.0),
        "max_abs_diff": float(np.abs(logits - reference).max()),
    }
