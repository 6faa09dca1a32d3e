"""Strict configs of the model-shrinking stages: distill (teacher -> student) and structural prune."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.bounds import Epochs, Threads, UserCodeSeconds
from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.training import TrainConfig


class TransferData(StrictModel):
    """The data a stage trains on: a 'module:function' provider or a dataset file.

    There is no default set: a recipe that lists distill or prune names its data (see
    ``check_shrink_settings``). A default provider once trained users' models on scikit-learn's
    digits whenever the shapes happened to match, and failed after the whole distillation otherwise.
    """

    provider: str | None = Field(
        None, description="'package.module:function' returning (inputs, labels or None) as arrays."
    )
    provider_timeout_s: UserCodeSeconds = Field(
        600.0, description="Seconds the provider may take to return its data (default 600); past it the run ends "
        "with an error naming the line it was at."
    )
    dataset: DatasetSpec | None = Field(None, description="A .npz/.npy/image folder instead of a provider.")
    use_labels: bool = Field(True, description="False treats the data as unlabeled: KD loss only.")

    @model_validator(mode="after")
    def _one_source(self) -> TransferData:
        if self.dataset is not None and self.provider is not None:
            raise ValueError("set either 'provider' or 'dataset', not both")
        return self

    @property
    def names_data(self) -> bool:
        return self.provider is not None or self.dataset is not None

    def provider_reference(self) -> str | None:
        """The provider in use; None when a dataset file is given."""
        return None if self.dataset is not None else self.provider


class KDLoss(StrictModel):
    temperature: float = Field(4.0, gt=0, description="Softmax temperature T of the soft targets.")
    alpha: float = Field(0.7, ge=0, le=1, description="Weight of the T^2-scaled KL term; 1-alpha weighs hard-label CE.")


class OutputLoss(StrictModel):
    """How one named model output is distilled; outputs not listed get the default for their kind."""

    kind: Literal["kl", "mse", "cosine"] = Field(
        description="kl: T^2-scaled KL between softmaxes (class scores); mse: mean squared error (regression, "
        "boxes, embeddings); cosine: 1 - cosine similarity per sample (embeddings, direction only)."
    )
    weight: float = Field(1.0, ge=0, description="Weight of this output's term in the sum; 0 leaves it out.")
    temperature: float | None = Field(
        None, gt=0, description="kind=kl: softmax temperature of this output (default: loss.temperature)."
    )

    @model_validator(mode="after")
    def _temperature_for_kl(self) -> OutputLoss:
        if self.temperature is not None and self.kind != "kl":
            raise ValueError(f"temperature applies to kind=kl only, not kind={self.kind}; remove it")
        return self


OUTPUT_LOSSES_HELP = (
    "Per-output losses by output name, e.g. {logits: {kind: kl}, boxes: {kind: mse, weight: 0.5}}; outputs not "
    "listed: kl for class-score outputs, mse for other float outputs (integer and bool outputs are skipped)."
)


class HintSpec(StrictModel):
    teacher_layer: str = Field(description="Module name in the teacher whose output is the hint, e.g. 'layer2'.")
    student_layer: str = Field(
        description="Module name in the student regressed onto it (a 1x1 adapter if widths differ)."
    )
    weight: float = Field(1.0, gt=0, description="Weight of this hint's MSE in the loss.")


class StudentSpec(StrictModel):
    source: Literal["scaled", "factory", "previous"] = Field(
        "scaled",
        description="scaled: the teacher narrowed by width_multiplier; factory: built by 'factory'; "
        "previous: the model made by an earlier stage (e.g. prune).",
    )
    width_multiplier: float = Field(0.5, gt=0, lt=1, description="source=scaled: fraction of channels kept per layer.")
    round_to: int | None = Field(8, gt=0, description="source=scaled: kept channel counts are multiples of this.")
    init: Literal["teacher", "random"] = Field(
        "teacher", description="source=scaled: start from the teacher's most important channels, or re-initialise."
    )
    factory: str | None = Field(None, description="source=factory: 'package.module:callable' returning an nn.Module.")
    kwargs: dict = Field(default_factory=dict, description="source=factory: keyword arguments of the factory.")
    checkpoint: Path | None = Field(None, description="source=factory: optional state dict to start from.")

    @model_validator(mode="after")
    def _factory_named(self) -> StudentSpec:
        if self.source == "factory" and not self.factory:
            raise ValueError("student.source=factory needs student.factory ('package.module:callable')")
        return self


class DistillConfig(StrictModel):
    student: StudentSpec = Field(default_factory=StudentSpec, description="Where the student comes from.")
    data: TransferData = Field(
        default_factory=TransferData, description="Transfer data: required when the recipe lists distill."
    )
    loss: KDLoss = Field(
        default_factory=KDLoss,
        description="Hinton soft-target KD mixed with hard-label CE (CE on the first class-score output only).",
    )
    output_losses: dict[str, OutputLoss] = Field(default_factory=dict, description=OUTPUT_LOSSES_HELP)
    hints: list[HintSpec] = Field(default_factory=list, description="Optional feature (hint) losses.")
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=6, lr=0.05, shift_augment=1), description="Optimizer and schedule."
    )
    model_name: str = Field("student", description="Lineage name of the distilled model in the report.")


class PruneTarget(StrictModel):
    """How much to remove: exactly one kind of budget."""

    kind: Literal["ratio", "macs", "latency"] = Field("macs", description="Which budget below applies.")
    ratio: float = Field(0.5, gt=0, lt=1, description="kind=ratio: fraction of channels removed.")
    macs_fraction: float = Field(
        0.25, gt=0, lt=1, description="kind=macs: at most this fraction of the teacher's MACs."
    )
    latency_fraction: float = Field(
        0.4, gt=0, lt=1, description="kind=latency: at most this fraction of the teacher's FP32 latency, measured."
    )
    backend: str = Field("onnxruntime", description="kind=latency: backend that measures (batch 1, FP32).")
    threads: Threads = Field(2, description="kind=latency: intra-op threads while measuring.")
    step_fraction: float = Field(
        0.8, gt=0, lt=1, description="kind=latency: each extra step keeps this fraction of the current MACs."
    )
    max_steps: int = Field(8, gt=0, le=1_000, description="kind=latency: give up after this many pruning steps.")


class Sparsity(StrictModel):
    epochs: Epochs = Field(0, description="importance=bn_scale: L1-on-BN-scale training epochs before pruning.")
    strength: float = Field(1e-4, gt=0, description="L1 coefficient on BatchNorm scales (network slimming).")


class Recovery(StrictModel):
    loss: Literal["none", "ce", "kd"] = Field("kd", description="Fine-tuning after each pruning step.")
    kd_teacher: Literal["unpruned", "teacher"] = Field(
        "unpruned", description="kd: distil from the model before pruning, or from the recipe's teacher."
    )
    kd: KDLoss = Field(default_factory=KDLoss, description="KD loss settings for loss=kd.")
    output_losses: dict[str, OutputLoss] = Field(default_factory=dict, description="loss=kd: " + OUTPUT_LOSSES_HELP)
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(epochs=2, lr=0.02, shift_augment=1, schedule="cosine"),
        description="Fine-tuning per step.",
    )


class PruneConfig(StrictModel):
    importance: Literal["l1", "l2", "taylor", "bn_scale"] = Field("l2", description="Channel importance criterion.")
    scope: Literal["global", "uniform"] = Field(
        "global", description="Rank channels across layers, or the same ratio per layer."
    )
    target: PruneTarget = Field(default_factory=PruneTarget, description="The budget.")
    steps: int = Field(
        1, gt=0, le=1_000,
        description="Prune -> recover repetitions that reach the budget (kind=latency: until under it, "
        "at most target.max_steps).",
    )
    round_to: int | None = Field(8, gt=0, description="Kept channel counts are multiples of this (8 or 16 suit SIMD).")
    max_layer_ratio: float = Field(0.9, gt=0, lt=1, description="No layer loses more than this fraction of channels.")
    ignored_layers: list[str] = Field(default_factory=list, description="Module names never pruned.")
    ignore_output_layer: bool = Field(
        True, description="Keep the widths of the layers that produce each model output (classifier, box head; in "
        "a transformer every layer writing the residual stream, so the embedding width stays)."
    )
    attention: Literal["head_dims", "heads", "both", "none"] = Field(
        "head_dims",
        description="Attention blocks (an int num_heads/heads attribute and a fused 'qkv' Linear, or Hugging Face "
        "BERT-style query/key/value Linears and num_attention_heads): head_dims keeps every head and narrows each; "
        "heads removes whole heads (the same ratio per block, one always kept); both does both; none leaves q/k/v "
        "and output projection widths alone.",
    )
    taylor_batches: int = Field(4, gt=0, le=100_000,
                                description="importance=taylor: batches whose gradients score channels.")
    sparsity: Sparsity = Field(default_factory=Sparsity, description="Optional sparsity-regularised training first.")
    recovery: Recovery = Field(default_factory=Recovery, description="Fine-tuning after pruning.")
    data: TransferData = Field(
        default_factory=TransferData,
        description="Data for Taylor scores and recovery: required when the recipe lists prune.",
    )
    model_name: str | None = Field(None, description="Lineage name of the pruned model (default '<input>-pruned').")
    if_budget_met: Literal["skip", "fail"] = Field(
        "skip", description="When the input model already meets the budget (e.g. a distilled student under "
        "macs_fraction): skip makes no pruned model (a note says why; later stages use the input model), fail "
        "stops the run before any training."
    )


def missing_data_error(setting: str) -> str:
    """The one-line error for a stage whose transfer data is not named (``setting``: e.g. 'distill.data')."""
    return (f"{setting} is not set, and the stage trains on it: add {setting}: {{provider: 'mymodule:train_arrays'}} "
            f"(a function returning {{input name: array, 'y': labels}}) or {setting}: {{dataset: {{path: train.npz}}}}")


def check_shrink_settings(stages: list[str], model_name: str, distill: DistillConfig | None,
                          prune: PruneConfig | None) -> None:
    """Settings of listed shrink stages that can be judged from the recipe alone (raises ValueError)."""
    sections: dict[str, DistillConfig | PruneConfig | None] = {"distill": distill, "prune": prune}
    for stage, section in sections.items():
        if stage in stages and (section is None or not section.data.names_data):
            raise ValueError(missing_data_error(f"{stage}.data"))
    student = (distill or DistillConfig()).model_name
    if "distill" in stages and student == model_name:
        # Both would write '<name>/onnx/fp32': the student's artifacts would replace the model's own.
        raise ValueError(f"model.name '{model_name}' is also distill.model_name; give the student another name")
