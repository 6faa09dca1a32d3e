"""A model's outputs by name, and the loss table that distils each one.

Teacher and student outputs are flattened (tuples, dicts, nesting) and named the way export names
them (the recipe's ``outputs``, else dict keys, else output/output_i), so they pair up by name.
Each float output gets a term: KL on softened class scores, MSE or 1 - cosine otherwise, weighted.
Hard-label CE joins the first class-score output's term when labels exist (Hinton's alpha mix), so
a one-output classifier gets exactly the classic KD loss. Integer and bool outputs are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import torch
from torch.nn import functional as F

from edge_pipeline.config.shrink import KDLoss, OutputLoss
from edge_pipeline.distillation.losses import UNLABELLED, cosine_loss, mix_hard_labels, mse_loss, soft_target_loss
from edge_pipeline.errors import ConfigError, StageError


@dataclass(frozen=True)
class OutputInfo:
    """One named output as a forward pass on the example returned it."""

    name: str
    shape: tuple[int, ...]  # batch first
    dtype: str  # e.g. "float32", "int64"
    floating: bool

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape[1:]

    @property
    def classifier_like(self) -> bool:
        """(batch, classes >= 2) floats: the rule of benchmarking.fidelity.is_classifier_like."""
        return self.floating and len(self.sample_shape) == 1 and self.sample_shape[0] >= 2


def named_outputs(value, declared: list[str] | tuple[str, ...] | None) -> dict[str, torch.Tensor]:
    """The forward() result as {output name: tensor}, named as export names it."""
    from edge_pipeline.modeling.outputs import flatten_outputs, output_names

    names = output_names(value, list(declared) if declared is not None else None)
    return {name: cast(torch.Tensor, tensor) for name, (_, tensor) in zip(names, flatten_outputs(value), strict=True)}


def describe_outputs(model: torch.nn.Module, example, declared: list[str] | None) -> list[OutputInfo]:
    """Run ``model`` once (no grad, eval mode) on ``example`` and describe each named output."""
    from edge_pipeline.training.batches import call_model

    with torch.no_grad():
        value = call_model(model.eval(), example)
    return [OutputInfo(name, tuple(t.shape), str(t.dtype).removeprefix("torch."), t.is_floating_point())
            for name, t in named_outputs(value, declared).items()]


def check_outputs_match(student: list[OutputInfo], teacher: list[OutputInfo], setting: str) -> None:
    """The student must return the teacher's outputs, by name and per-sample shape (no projection is
    learned: the deployed student replaces the teacher, so its outputs must be interchangeable)."""
    wanted = {o.name: o for o in teacher}
    got = {o.name: o for o in student}
    if set(got) != set(wanted):
        raise ConfigError(
            f"{setting} returns outputs {sorted(got)} but the teacher returns {sorted(wanted)}; the student must "
            "return the same outputs (same dict keys or tuple length)"
        )
    for name, info in got.items():
        if info.sample_shape != wanted[name].sample_shape:
            raise ConfigError(
                f"{setting} outputs {list(info.shape)} (output '{name}') but the teacher outputs "
                f"{list(wanted[name].shape)} on the same input; build the student with the teacher's output widths "
                "(same number of classes, same embedding dim) and shrink depth, heads or inner widths instead"
            )


@dataclass(frozen=True)
class OutputTerm:
    output: str
    kind: str  # kl, mse or cosine
    weight: float
    temperature: float | None  # kind=kl only
    hard_labels: bool  # the first class-score output: CE on labels mixed in by alpha
    class_scores: bool  # kl on (batch, classes): Taylor scores use CE on labels / own top-1

    def meta(self) -> dict:
        found = {"kind": self.kind, "weight": self.weight, "hard_labels": self.hard_labels}
        return found if self.temperature is None else {**found, "temperature": self.temperature}


@dataclass(frozen=True)
class OutputLosses:
    """The loss table: one term per distilled output, summed by weight."""

    terms: tuple[OutputTerm, ...]
    alpha: float  # weight of the distillation term where hard labels mix in
    declared: tuple[str, ...] | None  # the recipe's output names (None: named from the forward() result)
    skipped: tuple[str, ...] = ()  # integer/bool outputs and weight-0 outputs

    def named(self, value) -> dict[str, torch.Tensor]:
        return named_outputs(value, self.declared)

    def __call__(self, student_value, teacher_value, labels: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the terms; ``labels`` holds -1 where a sample has none."""
        return self.against_named(student_value, self.named(teacher_value), labels)

    def against_named(self, student_value, teacher: Mapping[str, torch.Tensor],
                      labels: torch.Tensor) -> torch.Tensor:
        """As calling the table, with the teacher's outputs already named (``named``): outputs
        computed once before training and looked up per batch are not named a second time."""
        terms = self._terms(self.named(student_value), teacher, labels)
        return _weighted_sum([(terms[t.output], t.weight) for t in self.terms])

    def per_output(self, student_value, teacher_value, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each output's term, unweighted."""
        return self._terms(self.named(student_value), self.named(teacher_value), labels)

    def _terms(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor],
               labels: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check_paired(student, teacher)
        return {t.output: self._term(t, student[t.output], teacher[t.output], labels) for t in self.terms}

    def _term(self, term: OutputTerm, student: torch.Tensor, teacher: torch.Tensor,
              labels: torch.Tensor) -> torch.Tensor:
        if term.kind == "kl":
            soft = soft_target_loss(student, teacher, float(term.temperature or 1.0))
        elif term.kind == "mse":
            soft = mse_loss(student, teacher)
        else:
            soft = cosine_loss(student, teacher)
        return mix_hard_labels(soft, student, labels, self.alpha) if term.hard_labels else soft

    def needs_teacher_for_scores(self) -> bool:
        """Whether Taylor scoring (``scoring_loss``) reads teacher outputs: only for non-class outputs."""
        return any(not t.class_scores for t in self.terms)

    def scoring_loss(self, student_value, teacher_value, labels: torch.Tensor | None) -> torch.Tensor:
        """The loss whose gradients rank channels (Taylor importance).

        Class scores: CE on the labels, else on the model's own top-1 (the classic rule, exactly).
        Other outputs: the distillation term against the teacher; where the model still returns the
        teacher's values (pruning the teacher itself) that term sits at its minimum with zero
        gradient, so half the output's mean square (its energy) ranks channels instead.
        """
        student = self.named(student_value)
        teacher = self.named(teacher_value) if teacher_value is not None else {}
        parts = []
        for term in self.terms:
            out = student[term.output]
            if term.class_scores:
                target = labels if labels is not None and term.hard_labels else out.detach().argmax(dim=1)
                parts.append((F.cross_entropy(out, target), term.weight))
            elif torch.equal(out.detach(), teacher[term.output]):
                parts.append((0.5 * out.pow(2).mean(), term.weight))
            else:
                parts.append((self._term(term, out, teacher[term.output], _no_labels(out)), term.weight))
        return _weighted_sum(parts)

    def hard_label_output(self) -> str | None:
        return next((t.output for t in self.terms if t.hard_labels), None)

    def meta(self) -> dict:
        """What the table was, for artifact meta: {output: {kind, weight, temperature, hard_labels}}."""
        return {"outputs": {t.output: t.meta() for t in self.terms}, "alpha": self.alpha,
                "skipped": list(self.skipped)}

    def _check_paired(self, student: Mapping[str, torch.Tensor], teacher: Mapping[str, torch.Tensor]) -> None:
        missing = [t.output for t in self.terms if t.output not in student or t.output not in teacher]
        if missing:
            raise StageError(
                f"outputs {missing} are missing from a forward pass (student {sorted(student)}, teacher "
                f"{sorted(teacher)}); the model must return the same outputs on every call"
            )


def classifier_losses(kd: KDLoss) -> OutputLosses:
    """The classic table of a one-output classifier: Hinton KD mixed with hard-label CE."""
    term = OutputTerm("output", "kl", 1.0, kd.temperature, hard_labels=True, class_scores=True)
    return OutputLosses((term,), kd.alpha, None)


def build_output_losses(outputs: list[OutputInfo], class_scores: list[str] | None,
                        overrides: Mapping[str, OutputLoss], kd: KDLoss, declared: list[str] | None,
                        setting: str) -> OutputLosses:
    """The table for a model with ``outputs``: ``overrides`` by name, defaults for the rest.

    ``class_scores``: the recipe's class_score_outputs (None: every (batch, classes) float output).
    """
    by_name = {o.name: o for o in outputs}
    _check_override_names(by_name, overrides, setting)
    scored = [o.name for o in outputs if _is_class_scores(o, class_scores)]
    first_scores = scored[0] if scored else None
    terms, skipped = [], []
    for info in outputs:
        loss = overrides.get(info.name)
        if not info.floating or (loss is not None and loss.weight == 0):
            skipped.append(info.name)
            continue
        if loss is None:
            loss = OutputLoss(kind="kl" if info.name in scored else "mse")
        _check_kind_fits(info, loss, setting)
        temperature = (loss.temperature or kd.temperature) if loss.kind == "kl" else None
        two_d = len(info.sample_shape) == 1  # (batch, classes): CE and top-1 apply
        terms.append(OutputTerm(info.name, loss.kind, loss.weight, temperature,
                                hard_labels=info.name == first_scores and two_d,
                                class_scores=loss.kind == "kl" and two_d))
    if not terms:
        raise ConfigError(
            f"{setting} leaves no output to distil (outputs {list(by_name)}: integer/bool or weight 0); "
            "give at least one float output a weight above 0"
        )
    return OutputLosses(tuple(terms), kd.alpha, tuple(declared) if declared is not None else None, tuple(skipped))


def _is_class_scores(info: OutputInfo, class_scores: list[str] | None) -> bool:
    if not info.floating:
        return False
    return info.classifier_like if class_scores is None else info.name in class_scores


def _check_override_names(by_name: Mapping[str, OutputInfo], overrides: Mapping[str, OutputLoss],
                          setting: str) -> None:
    unknown = [name for name in overrides if name not in by_name]
    if unknown:
        raise ConfigError(
            f"{setting} names output {', '.join(repr(n) for n in unknown)}, which the model does not return; "
            f"its outputs are {list(by_name)}"
        )
    integral = [name for name, loss in overrides.items() if not by_name[name].floating and loss.weight > 0]
    if integral:
        name = integral[0]
        raise ConfigError(
            f"{setting}.{name}: output '{name}' is {by_name[name].dtype}, which cannot be distilled; remove it "
            "(integer and bool outputs are skipped)"
        )


def _check_kind_fits(info: OutputInfo, loss: OutputLoss, setting: str) -> None:
    if loss.kind == "kl" and (not info.sample_shape or info.sample_shape[-1] < 2):
        raise ConfigError(
            f"{setting}.{info.name}: kind=kl needs class scores (a last dim of 2 or more), output '{info.name}' is "
            f"{list(info.sample_shape)} per sample; use kind mse or cosine"
        )


def _no_labels(reference: torch.Tensor) -> torch.Tensor:
    return torch.full((reference.shape[0],), UNLABELLED, dtype=torch.long)


def _weighted_sum(parts: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """Sum in table order; a weight of 1 multiplies nothing, so a one-term table is its term exactly."""
    total = None
    for value, weight in parts:
        weighted = value if weight == 1.0 else value * weight
        total = weighted if total is None else total + weighted
    if total is None:
        raise StageError("the loss table is empty")
    return total
