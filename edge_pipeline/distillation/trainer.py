"""Distil a teacher into a student with the project's training loop (DDP under torchrun)."""

from __future__ import annotations

from pathlib import Path

import torch

from edge_pipeline.config.shrink import DistillConfig
from edge_pipeline.distillation.hints import FeatureTap, StudentWithHints
from edge_pipeline.distillation.losses import hint_loss, kd_loss


def distill(student: torch.nn.Module, teacher: torch.nn.Module, adapters: list, dataset, config: DistillConfig,
            checkpoint_dir: Path | None) -> torch.nn.Module:
    """Train ``student`` in place on KD (+ CE, + hints) against the frozen teacher; return it in eval mode."""
    from edge_pipeline.training.loop import fit

    hints = config.hints
    wrapped = StudentWithHints(student, hints, adapters)
    teacher.eval().requires_grad_(False)
    teacher_tap = FeatureTap(teacher, [h.teacher_layer for h in hints], "teacher") if hints else None
    weights = [h.weight for h in hints]

    def loss_fn(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(x)  # (B, classes)
            teacher_features = teacher_tap.take() if teacher_tap else []
        logits, student_features = model(x)
        loss = kd_loss(logits, teacher_logits, y, config.loss)
        if hints:
            loss = loss + hint_loss(student_features, teacher_features, weights)
        return loss

    try:
        fit(wrapped, dataset, loss_fn, config.train, label="distill", checkpoint_dir=checkpoint_dir)
    finally:
        if teacher_tap:
            teacher_tap.close()
        if wrapped.tap:
            wrapped.tap.close()
    return student.eval()
