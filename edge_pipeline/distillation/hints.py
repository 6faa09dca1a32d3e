"""Feature taps on named modules, and the learned 1x1 adapters that map student widths to the teacher's.

The student and its adapters train as one module (``StudentWithHints``), so under DDP the
adapters' gradients are all-reduced with the student's.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_pipeline.config.shrink import HintSpec
from edge_pipeline.errors import ConfigError
from edge_pipeline.training.batches import Inputs, call_model


class FeatureTap:
    """Records the outputs of named modules on every forward pass."""

    def __init__(self, model: nn.Module, names: list[str], role: str):
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            sample = ", ".join(n for n in list(modules)[1:9])
            raise ConfigError(
                f"distill.hints names {role} layer {missing}, which the {role} does not have; "
                f"use a module name from named_modules(), e.g. {sample}"
            )
        self.names = names
        self.outputs: dict[str, torch.Tensor] = {}
        self._hooks = [modules[n].register_forward_hook(self._recorder(n)) for n in names]

    def _recorder(self, name: str):
        def record(_module, _inputs, output):
            self.outputs[name] = output

        return record

    def take(self) -> list[torch.Tensor]:
        found = [self.outputs[n] for n in self.names]
        self.outputs = {}
        return found

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()


def make_adapter(student_shape: torch.Size, teacher_shape: torch.Size, hint: HintSpec) -> nn.Module:
    """Identity when shapes agree; a 1x1 conv (4-D maps) or a linear layer (tokens) when widths differ."""
    where = f"distill.hints {hint.student_layer} -> {hint.teacher_layer}"
    spatial_differs = len(student_shape) == 4 and student_shape[2:] != teacher_shape[2:]
    if len(student_shape) != len(teacher_shape) or spatial_differs:
        raise ConfigError(
            f"{where}: student feature {list(student_shape)[1:]} and teacher feature {list(teacher_shape)[1:]} "
            "differ in rank or spatial size; pick layers at the same resolution"
        )
    if student_shape == teacher_shape:
        return nn.Identity()
    if len(student_shape) == 4:  # (B, C, H, W)
        return nn.Conv2d(student_shape[1], teacher_shape[1], kernel_size=1, bias=False)
    if student_shape[:-1] != teacher_shape[:-1]:
        raise ConfigError(
            f"{where}: feature shapes {list(student_shape)} and {list(teacher_shape)} differ before the last dim"
        )
    return nn.Linear(student_shape[-1], teacher_shape[-1], bias=False)  # (B, ..., D)


class StudentWithHints(nn.Module):
    """forward(*inputs) -> (the student's outputs as it returns them, adapted student features in hint order)."""

    def __init__(self, student: nn.Module, hints: list[HintSpec], adapters: list[nn.Module]):
        super().__init__()
        self.student = student
        self.adapters = nn.ModuleList(adapters)
        self.tap = FeatureTap(student, [h.student_layer for h in hints], "student") if hints else None

    def forward(self, *inputs: torch.Tensor):
        outputs = self.student(*inputs)
        if self.tap is None:
            return outputs, []
        return outputs, [adapter(f) for adapter, f in zip(self.adapters, self.tap.take(), strict=True)]


def build_adapters(student: nn.Module, teacher: nn.Module, hints: list[HintSpec],
                   example: Inputs) -> list[nn.Module]:
    """Check every hint layer exists and build its adapter from the feature shapes on ``example``
    (a tensor, or one tensor per model input)."""
    if not hints:
        return []
    student_tap = FeatureTap(student, [h.student_layer for h in hints], "student")
    teacher_tap = FeatureTap(teacher, [h.teacher_layer for h in hints], "teacher")
    try:
        with torch.no_grad():
            call_model(student, example)
            call_model(teacher, example)
        pairs = zip(student_tap.take(), teacher_tap.take(), hints, strict=True)
        return [make_adapter(s.shape, t.shape, h) for s, t, h in pairs]
    finally:
        student_tap.close()
        teacher_tap.close()
