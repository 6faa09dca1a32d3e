"""Distil a teacher into a student with the project's training loop (DDP under torchrun)."""

from __future__ import annotations

from pathlib import Path

import torch

from edge_pipeline.config.shrink import DistillConfig
from edge_pipeline.distillation.frozen_outputs import IndexedDataset, precomputed_outputs
from edge_pipeline.distillation.hints import FeatureTap, StudentWithHints
from edge_pipeline.distillation.losses import hint_loss
from edge_pipeline.distillation.outputs import OutputLosses, classifier_losses
from edge_pipeline.training.batches import Inputs, as_tuple


def distill(student: torch.nn.Module, teacher: torch.nn.Module, adapters: list, dataset, config: DistillConfig,
            checkpoint_dir: Path | None, losses: OutputLosses | None = None) -> torch.nn.Module:
    """Train ``student`` in place on the per-output loss table (+ hints) against the frozen teacher;
    return it in eval mode. Both models are called ``model(*inputs)``. ``losses`` defaults to the
    one-output classifier's table (KD + CE from ``config.loss``)."""
    from edge_pipeline.training.loop import fit

    losses = losses if losses is not None else classifier_losses(config.loss)
    hints = config.hints
    wrapped = StudentWithHints(student, hints, adapters)
    teacher.eval().requires_grad_(False)
    teacher_tap = FeatureTap(teacher, [h.teacher_layer for h in hints], "teacher") if hints else None
    weights = [h.weight for h in hints]
    # The teacher's outputs once over the data instead of once per epoch, where they cannot change.
    frozen = precomputed_outputs(teacher, dataset, losses.named, config.train, uses_hints=bool(hints))

    def loss_fn(model, x: Inputs, y: torch.Tensor) -> torch.Tensor:
        inputs = as_tuple(x)
        if frozen is not None:
            outputs, _ = model(*inputs)
            return frozen.loss(losses, outputs, y)
        with torch.no_grad():
            teacher_outputs = teacher(*inputs)
            teacher_features = teacher_tap.take() if teacher_tap else []
        outputs, student_features = model(*inputs)
        loss = losses(outputs, teacher_outputs, y)
        if hints:
            loss = loss + hint_loss(student_features, teacher_features, weights)
        return loss

    try:
        fit(wrapped, IndexedDataset(dataset) if frozen is not None else dataset, loss_fn, config.train,
            label="distill", checkpoint_dir=checkpoint_dir)
    finally:
        if teacher_tap:
            teacher_tap.close()
        if wrapped.tap:
            wrapped.tap.close()
    return student.eval()


def final_losses(student: torch.nn.Module, teacher: torch.nn.Module, dataset, losses: OutputLosses,
                 samples: int = 256) -> dict[str, float]:
    """Each output's (unweighted) term on the first ``samples`` transfer samples after training, for
    the artifact's meta: what the table optimised, output by output."""
    x, y = dataset[0:samples]
    inputs = as_tuple(x)
    with torch.no_grad():
        terms = losses.per_output(student.eval()(*inputs), teacher.eval()(*inputs), y)
    return {name: float(value) for name, value in terms.items()}
