"""The iterative schedule: (optional sparsity training) then N x (score -> prune -> recover).

Every step is deterministic given the weights, so an interrupted run redoes the same pruning and
the training loop resumes each step's fine-tuning from its last epoch checkpoint. Recovery (and
Taylor scoring) go through the per-output loss table, so a model with several outputs recovers
each of them; a one-output classifier gets the classic KD + CE.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.distillation.frozen_outputs import IndexedDataset, precomputed_outputs
from edge_pipeline.distillation.losses import hard_label_loss
from edge_pipeline.distillation.outputs import OutputLosses, classifier_losses
from edge_pipeline.errors import ConfigError
from edge_pipeline.progress import progress
from edge_pipeline.pruning import importance as imp
from edge_pipeline.pruning.channels import count_macs_params, prune_channels
from edge_pipeline.pruning.latency_floor import LatencyWatch
from edge_pipeline.pruning.plan import BudgetMetError, latency_step_ratio, step_ratio
from edge_pipeline.training.batches import Inputs, as_tuple


@dataclass
class ScheduleInputs:
    example: Inputs  # a tensor, or one tensor per model input
    ignored: list[str]
    dataset: object  # (inputs, y) samples (shrinking.data.torch_dataset); y = -1 where unlabelled
    teacher: torch.nn.Module  # the recipe's teacher: MACs reference, and KD source when asked
    teacher_macs: int
    checkpoints: Path
    measure_latency: Callable[[torch.nn.Module, str], dict] | None = None  # kind=latency only
    losses: OutputLosses | None = None  # recovery's loss table (None: the one-output classifier's)
    history: list[dict] = field(default_factory=list)

    def loss_table(self, config: PruneConfig) -> OutputLosses:
        return self.losses if self.losses is not None else classifier_losses(config.recovery.kd)


def run_schedule(model: torch.nn.Module, config: PruneConfig, inputs: ScheduleInputs) -> list[dict]:
    """Prune ``model`` in place to the budget; return one record per step."""
    if config.importance == "bn_scale" and config.sparsity.epochs > 0:
        _sparsity_training(model, config, inputs)
    start_macs, _ = count_macs_params(model, inputs.example)
    if config.target.kind == "latency":
        return _latency_schedule(model, config, inputs)
    for step in range(1, config.steps + 1):
        def choose(step=step) -> float:
            return step_ratio(model, inputs.example, config, inputs.ignored, step, start_macs, inputs.teacher_macs)

        _prune_and_recover(model, config, inputs, step, choose)
    return inputs.history


def _latency_schedule(model, config: PruneConfig, inputs: ScheduleInputs) -> list[dict]:
    measured = inputs.measure_latency(model, "step-0")
    if measured["latency_vs_teacher"] <= config.target.latency_fraction:
        raise BudgetMetError(
            f"prune.target.latency_fraction={config.target.latency_fraction}: the input model already runs at "
            f"{measured['latency_vs_teacher']:.2f}x the teacher's latency on {config.target.backend}"
        )
    watch = LatencyWatch(config, inputs.teacher_macs)
    start = watch.record(0, count_macs_params(model, inputs.example)[0], measured)
    progress("prune", f"step 0 (input model): {start.macs:,} MACs ({start.macs / inputs.teacher_macs:.1%} of the "
                      f"teacher), {watch.text(start)}")
    for step in range(1, config.target.max_steps + 1):
        if watch.points[-1].vs_teacher <= config.target.latency_fraction:
            return inputs.history

        def choose() -> float:
            try:
                return latency_step_ratio(model, inputs.example, config, inputs.ignored)
            except ConfigError as exc:  # no channel left to remove: said as the latency reached, not in MACs
                raise watch.failure(f"max_layer_ratio={config.max_layer_ratio} leaves no more channels to "
                                    "remove") from exc

        def timed(step: int = step) -> dict:
            # Timed before recovery: latency depends on the widths alone, and a step that stalls is not trained.
            return inputs.measure_latency(model, f"step-{step}")

        _prune_and_recover(model, config, inputs, step, choose, LatencyHook(watch, timed))
    if watch.points[-1].vs_teacher > config.target.latency_fraction:
        raise watch.failure(f"max_steps={config.target.max_steps} spent")
    return inputs.history


@dataclass
class LatencyHook:
    """kind=latency: measures each step right after pruning, for its progress line and its stop."""

    watch: LatencyWatch
    measure: Callable[[], dict]

    def after_prune(self, step: int, macs: int) -> tuple[str, dict]:
        """The text that goes beside the step's MACs, and what the history records."""
        measured = self.measure()
        return f", {self.watch.text(self.watch.record(step, macs, measured))}", measured


def _prune_and_recover(model, config: PruneConfig, inputs: ScheduleInputs, step: int,
                       choose_ratio: Callable[[], float], latency: LatencyHook | None = None) -> None:
    unpruned = copy.deepcopy(model).eval() if _kd_from_unpruned(config) else None
    if imp.needs_gradients(config):  # before choosing the ratio: the trial copies rank channels too
        scoring = taylor_loss(inputs.loss_table(config), inputs.teacher)
        imp.accumulate_taylor_gradients(model, _scoring_batches(inputs.dataset, config.taylor_batches), scoring)
    ratio = choose_ratio()
    prune_channels(model, inputs.example, config, ratio, inputs.ignored)
    model.zero_grad(set_to_none=True)
    macs, params = count_macs_params(model, inputs.example)
    beside, measured = latency.after_prune(step, macs) if latency is not None else ("", {})
    progress("prune", f"step {step}: removed {ratio:.1%} of channels -> {macs:,} MACs "
                      f"({macs / inputs.teacher_macs:.1%} of the teacher){beside}, {params:,} params")
    if latency is not None:
        latency.watch.raise_if_stalled()
    kd_source = unpruned if unpruned is not None else inputs.teacher
    recover(model, config, inputs.dataset, kd_source, inputs.checkpoints / f"step-{step}", f"prune step {step}",
            losses=inputs.loss_table(config))
    inputs.history.append({"step": step, "ratio": ratio, "macs": macs, "params": params,
                           "macs_vs_teacher": macs / inputs.teacher_macs, **measured})


def recover(model, config: PruneConfig, dataset, kd_source: torch.nn.Module, checkpoints: Path, label: str,
            extra_loss: Callable[[], torch.Tensor] | None = None, epochs: int | None = None,
            losses: OutputLosses | None = None) -> None:
    """Fine-tune after pruning: the loss table against ``kd_source`` (KD), cross-entropy on the first
    class-score output, or nothing. ``losses`` defaults to the one-output classifier's table."""
    from edge_pipeline.training.loop import fit

    recovery = config.recovery
    if recovery.loss == "none" and extra_loss is None:
        return
    table = losses if losses is not None else classifier_losses(recovery.kd)
    # CE needs class scores: without such an output (the stage refuses loss=ce then) it is KD throughout.
    scored = table.hard_label_output()
    kd_source.eval()  # used under no_grad below; its requires_grad flags stay the caller's
    train = recovery.train if epochs is None else recovery.train.model_copy(update={"epochs": epochs})
    # KD on every batch from a model that does not train: its outputs once, not once per epoch.
    kd_throughout = recovery.loss == "kd" or scored is None
    frozen = (precomputed_outputs(kd_source, dataset, table.named, train)
              if kd_throughout and kd_source is not model else None)

    def loss_fn(trained, x: Inputs, y: torch.Tensor) -> torch.Tensor:
        inputs = as_tuple(x)
        outputs = trained(*inputs)
        if frozen is not None:
            loss = frozen.loss(table, outputs, y)
        elif kd_throughout or (y < 0).all():
            with torch.no_grad():
                reference = kd_source(*inputs)
            loss = table(outputs, reference, y)
        else:
            loss = hard_label_loss(table.named(outputs)[scored], y)
        return loss + extra_loss() if extra_loss is not None else loss

    fit(model, IndexedDataset(dataset) if frozen is not None else dataset, loss_fn, train, label=label,
        checkpoint_dir=checkpoints)


def _sparsity_training(model, config: PruneConfig, inputs: ScheduleInputs) -> None:
    """Network slimming: train with L1 on BN scales so unimportant channels' gammas approach zero."""
    penalty = imp.bn_sparsity_penalty(model, config.sparsity.strength)
    recover(model, config, inputs.dataset, inputs.teacher, inputs.checkpoints / "sparsity", "prune sparsity",
            extra_loss=penalty, epochs=config.sparsity.epochs, losses=inputs.loss_table(config))


def _kd_from_unpruned(config: PruneConfig) -> bool:
    return config.recovery.loss == "kd" and config.recovery.kd_teacher == "unpruned"


def taylor_loss(table: OutputLosses, teacher: torch.nn.Module) -> imp.ScoringLoss:
    """Taylor's loss from the table: CE for class scores, the distillation terms against the teacher
    for other outputs (the teacher runs only when some output needs it)."""
    def loss(model: torch.nn.Module, x: Inputs, y: torch.Tensor | None) -> torch.Tensor:
        inputs = as_tuple(x)
        reference = None
        if table.needs_teacher_for_scores():
            with torch.no_grad():
                reference = teacher.eval()(*inputs)
        return table.scoring_loss(model(*inputs), reference, y)

    return loss


def _scoring_batches(dataset, count: int, batch_size: int = 64) -> list[tuple[Inputs, torch.Tensor | None]]:
    """The first ``count`` batches in a fixed order: every rank scores channels on the same data."""
    batches = []
    for start in range(0, min(len(dataset), count * batch_size), batch_size):
        x, y = dataset[start : start + batch_size]
        batches.append((x, None if bool((y < 0).any()) else y))
    return batches
