"""Typed, strict configs for recipes and target profiles.

A target profile holds the defaults for its device; a recipe may override any stage setting, and
only the keys the recipe sets win (see ``effective_stage_config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.bounds import (
    BATCH_SIZE,
    MAX_DIM,
    THREADS,
    BatchSize,
    Iterations,
    Rounds,
    Samples,
    TimeBudget,
    UserCodeSeconds,
    Warmup,
    bounded_list,
)

# DatasetSpec lives in the leaf module config/data.py (shrink.py needs it too); importing it here
# keeps `from edge_pipeline.config.schema import DatasetSpec` working.
from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.shrink import DistillConfig, PruneConfig, check_shrink_settings

Precision = Literal["fp32", "fp16", "bf16", "int8"]
CalibrationMethod = Literal["minmax", "entropy", "percentile"]


class Metadata(StrictModel):
    name: str = Field(description="Short identifier, used in bundle and report names.")
    description: str = Field("", description="Free text for people.")
    version: str = Field("1", description="Recipe or profile revision.")


# The lineage name of the recipe's own model when model.name is unset: artifact ids, bundle folders
# and the report's FP32 baseline rows of existing recipes keep using it.
DEFAULT_MODEL_NAME = "teacher"


class ModelSpec(StrictModel):
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The model's own name in artifact ids, bundle folders and reports (default 'teacher'); "
        "letters, digits, '.', '_' and '-'.",
    )
    factory: str | None = Field(None, description="'package.module:callable' returning an nn.Module.")
    kwargs: dict = Field(default_factory=dict, description="Keyword arguments for the factory.")
    checkpoint: Path | None = Field(
        None, description="State dict (.pt/.pth loaded with weights_only=True, or .safetensors)."
    )
    program: Path | None = Field(None, description="A torch.export program (.pt2) instead of a factory.")
    onnx: Path | None = Field(
        None, description="An ONNX file exported elsewhere: its dynamic dims are fixed from the recipe's inputs, "
        "old opsets converted, dead constants folded; distill and prune need a PyTorch model instead."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        sources = [name for name in ("factory", "program", "onnx") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError(f"set exactly one of 'factory', 'program' or 'onnx' (got {sources or 'none'})")
        if self.program is not None and self.checkpoint is not None:
            raise ValueError("'checkpoint' goes with 'factory'; a torch.export program carries its weights")
        return self

    @property
    def lineage(self) -> str:
        """The artifact model name of the recipe's own model: every stage takes it from here."""
        return self.name or DEFAULT_MODEL_NAME


class InputSpec(StrictModel):
    name: str = Field("input", description="Graph input name in the exported ONNX (the forward() argument's order).")
    shape: list[int] = Field(
        description="Full shape with the batch at batch_axis, e.g. [1, 3, 224, 224], [2, 1, 64] for an RNN state "
        "(batch_axis 1), or [] for a scalar (a sample rate)."
    )
    dtype: Literal["float32", "float16", "int64", "int32", "uint8", "bool"] = Field("float32", description="dtype.")
    batch_axis: int | None = Field(
        0, ge=0, description="The axis that holds the batch (data arrays hold their samples along it too); "
        "null: none, the tensor is fed whole, one sample at a time, its data stacked on a new first axis. "
        "A scalar (shape []) has none."
    )
    dynamic_batch: bool = Field(True, description="Export the batch dimension as dynamic.")
    dynamic_axes: dict[int, str] = Field(
        default_factory=dict, description="Other dynamic dimensions by axis, named, e.g. {1: sequence}."
    )
    value_range: tuple[float, float] | None = Field(
        None, description="[low, high) of the values, e.g. [0, 30522] for token ids: synthetic feeds stay inside it."
    )

    @model_validator(mode="before")
    @classmethod
    def _scalar_has_no_batch(cls, data):
        # A scalar has no axis to batch on: `shape: []` alone means batch_axis null.
        if isinstance(data, dict) and data.get("shape") == [] and "batch_axis" not in data:
            return {**data, "batch_axis": None}
        return data

    @field_validator("shape")
    @classmethod
    def _positive(cls, shape: list[int]) -> list[int]:
        if any(d <= 0 for d in shape):
            raise ValueError(f"shape {shape} must have positive sizes, e.g. [1, 3, 224, 224] ([] for a scalar)")
        if any(d > MAX_DIM for d in shape):
            # A larger size overflows the int32 indexing of runtimes long before memory runs out.
            raise ValueError(f"shape {shape} has a size above {MAX_DIM}; sizes are 1 to {MAX_DIM}")
        return shape

    @model_validator(mode="after")
    def _axes_inside(self) -> InputSpec:
        if self.batch_axis is not None and self.batch_axis >= len(self.shape):
            raise ValueError(f"input '{self.name}': batch_axis {self.batch_axis} is out of range for shape "
                             f"{self.shape}; use 0..{len(self.shape) - 1}, or null for no batch axis")
        if self.batch_axis is not None and len(self.shape) < 2 and "batch_axis" not in self.model_fields_set:
            raise ValueError(f"shape {self.shape} must have a batch dimension and a sample shape, e.g. "
                             "[1, 3, 224, 224]; [] for a scalar, or set batch_axis (null: none) to say what it is")
        bad = [axis for axis in self.dynamic_axes if not 0 <= axis < len(self.shape) or axis == self.batch_axis]
        if bad:
            raise ValueError(f"dynamic_axes {bad} are not non-batch axes of shape {self.shape}")
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"value_range {list(self.value_range)} must be [low, high) with low < high")
        return self

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's shape: the full shape without the batch axis."""
        return tuple(d for axis, d in enumerate(self.shape) if axis != self.batch_axis)

    @property
    def declared_batch(self) -> int:
        """The batch the shape declares (1 where the input has no batch axis)."""
        return 1 if self.batch_axis is None else self.shape[self.batch_axis]

    def shape_at(self, batch: int) -> list[int]:
        """The full shape for ``batch`` samples (the shape itself where there is no batch axis)."""
        shape = list(self.shape)
        if self.batch_axis is not None:
            shape[self.batch_axis] = batch
        return shape


class MetricSpec(StrictModel):
    """A task metric of the user's: ``function(outputs, labels) -> {figure name: value}``, where
    ``outputs`` maps output names to (N, ...) arrays over data.eval and ``labels`` is its labels or None."""

    function: str = Field(description="'package.module:function' computing the figures.")
    lower_is_better: list[str] = Field(
        default_factory=list, description="Figures where lower is better (errors, losses); others: higher is better."
    )
    timeout_s: UserCodeSeconds = Field(
        60.0, description="Seconds one call of the function may take (default 60); past it the run ends with an "
        "error naming the line it was at. It gets copies of the outputs and labels."
    )

    def better_sign(self, figure: str) -> float:
        """+1 where a rise is an improvement, -1 where a fall is."""
        return -1.0 if figure in self.lower_is_better else 1.0


class DataSpec(StrictModel):
    calibration: DatasetSpec = Field(description="Samples that calibrate quantization and check export.")
    eval: DatasetSpec | None = Field(None, description="Labelled held-out split for accuracy.")


class ExportConfig(StrictModel):
    opset: int = Field(18, ge=18, le=23, description="ONNX opset; the dynamo exporter needs 18 or newer.")
    dynamic_batch: bool | None = Field(None, description="Overrides input.dynamic_batch when set.")
    simplify: bool = Field(True, description="Run onnxslim after export.")
    check_samples: Samples = Field(32, description="Real inputs compared between PyTorch and ONNX Runtime.")
    max_abs_diff: float = Field(1e-3, gt=0, description="Largest allowed |torch - onnx| on any output element.")
    min_cosine: float = Field(0.9999, gt=0, le=1, description="Smallest allowed cosine similarity of outputs.")


class QuantizeConfig(StrictModel):
    preset: Literal["auto", "cnn", "transformer"] = Field(
        "auto", description="auto: 'transformer' when the graph has attention (a Softmax over an activation "
        "MatMul), else 'cnn'. transformer keeps the attention mask's arithmetic, Softmax, LayerNorm and embedding "
        "lookups in float and quantizes MatMul/Gemm/Conv (ORT); NNCF model_type transformer (OpenVINO)."
    )
    op_types: list[str] | None = Field(
        None, description="Quantize only these op types (e.g. [MatMul]); default: the preset's scope."
    )
    activations: Literal["static", "dynamic"] = Field(
        "static", description="static: calibrated activation scales (every backend). dynamic: ONNX Runtime "
        "computes each activation's scale per inference (MatMul/Gemm only, no calibration); other backends "
        "refuse it. Set it in a target profile to use it for one target."
    )
    method: CalibrationMethod = Field("minmax", description="Activation range calibration.")
    samples: Samples = Field(128, description="Calibration samples drawn from data.calibration.")
    percentile: float = Field(99.999, gt=90, le=100, description="Percentile for method=percentile.")
    num_bins: int = Field(2048, ge=128, description="Histogram bins for entropy and percentile.")
    per_channel: bool = Field(True, description="Per-output-channel weight scales.")
    activation_type: Literal["auto", "uint8", "int8"] = Field(
        "auto", description="auto: uint8 on x86 (VNNI U8S8 kernels), int8 symmetric on ARM."
    )
    symmetric_activations: bool | None = Field(None, description="Default follows activation_type.")
    exclude_nodes: list[str] = Field(default_factory=list, description="Node names kept in float.")
    exclude_op_types: list[str] = Field(default_factory=list, description="Op types kept in float.")
    keep_float: list[str] = Field(
        default_factory=list, description="Nodes kept in float by the sensitivity fallback (or by hand); unlike "
        "exclude_nodes, a name the backend's graph no longer has (fused away) is skipped, not an error."
    )
    fallback: bool = Field(
        True, description="When an artifact misses the fidelity floor, try the backend's whole-model strategies, "
        "then keep in float the layers whose float form measurably moves the output, fewest layers first."
    )
    placement: Literal["auto", "speed", "off"] = Field(
        "auto", description="Latency-aware placement. speed: once INT8 meets the floor, time the FP32 and INT8 "
        "artifact per compute layer with the runtime's own profiler (Q/DQ and reorders counted to their layer) and "
        "make a second, mixed INT8 artifact (variant 'mixed') keeping float the layers slower in INT8 beyond a "
        "noise margin, held to the same floor and kept only when it beats the full INT8 by 5% timed as a whole "
        "(where the whole set is slower, layers are added one at a time); the benchmark times both and the "
        "recommendation picks. auto: speed "
        "on CPU targets whose device is this machine (x86 CPU targets here), off elsewhere (TensorRT, Android). "
        "off: full INT8 only."
    )
    fallback_max_layers: int = Field(16, ge=1, description="Most layers the fallback keeps in float before failing.")
    fallback_time_budget_s: float = Field(
        600.0, gt=0, le=86400, description="Wall time the fallback may spend (strategies, single-layer trials, "
        "rounds) before it fails with the best fidelity reached."
    )
    max_drop: float | None = Field(
        None,
        gt=0,
        description="Accuracy-controlled INT8 (OpenVINO/NNCF): largest top-1 drop, in points, on the labelled "
        "data.eval (or the control_metric's worsening, in its units); quantized ops are reverted to float "
        "until it holds. Other backends ignore it.",
    )
    control_metric: str | None = Field(
        None, description="A figure of the recipe's metric that accuracy control (max_drop) holds instead of top-1."
    )
    max_metric_drop: dict[str, float] = Field(
        default_factory=dict, description="Fidelity floor on the recipe's metric over data.eval, per figure: the "
        "largest worsening vs FP32 (a fall, or a rise for lower_is_better figures), e.g. {recall: 0.01}."
    )

    @field_validator("max_metric_drop")
    @classmethod
    def _non_negative_drops(cls, drops: dict[str, float]) -> dict[str, float]:
        negative = {name: drop for name, drop in drops.items() if drop < 0}
        if negative:
            raise ValueError(f"{negative}: a largest worsening is 0 or more")
        return drops
    min_cosine: float | None = Field(
        0.99, gt=0, le=1, description="Fidelity floor: every output of every artifact this step writes must reach "
        "this cosine to the FP32 model on data.eval (calibration samples without one), else the sensitivity "
        "fallback keeps layers float, else the step fails naming the output. null: no floor."
    )
    min_cosine_per_output: dict[str, float] = Field(
        default_factory=dict, description="Per-output floors by output name, e.g. {boxes: 0.999}; override min_cosine."
    )
    fidelity_samples: Samples = Field(
        64, description="Samples of data.eval (or calibration) the fidelity check runs."
    )
    memory_budget_mib: int | None = Field(
        None, ge=1, le=2**30, description="Memory calibration may use, in MiB (default: the memory available). "
        "Calibration batches are sized to fit it; a model whose one calibration sample cannot fit is refused "
        "before any stage, naming the estimate and the budget."
    )


class RemoteBenchmark(StrictModel):
    devices: list[str] = Field(
        min_length=1, description="Devices of the devices file that time the bundle's artifacts of the targets "
        "they serve, after the run; their rows are attached to the bundle as device rows (never cached)."
    )
    devices_file: Path | None = Field(
        None, description="The devices file (relative: to the recipe's folder); default $EDGE_PIPELINE_DEVICES, "
        "else ./devices.yaml."
    )


class BenchmarkConfig(StrictModel):
    warmup: Warmup = Field(20, description="Untimed runs before timing.")
    iterations: Iterations = Field(200, description="Timed runs per configuration (upper bound with a budget).")
    time_budget_s: TimeBudget | None = Field(None, description="Stop timing a configuration after this long.")
    rounds: Rounds = Field(
        1, description="Fresh worker processes per artifact, taken in turn across the run's artifacts; "
        "samples are pooled (iterations and the budget are per round)."
    )
    batch_sizes: list[int] = Field(default_factory=lambda: [1], description="Batch sizes to time.")
    threads: list[int] = Field(default_factory=lambda: [2], description="Intra-op thread counts to time.")
    eval_batch_size: BatchSize = Field(64, description="Batch used for the accuracy pass when shapes allow.")
    device_formats_on_host: Literal["skip", "time"] = Field(
        "skip", description="Files laid out for the device's kernels (ORT-format models for arm64) on a host "
        "without the target's instruction set: 'skip' leaves their timing to `edge-pipeline benchmark` on the "
        "device (the quantize stage's fidelity check has run them here), 'time' times them here as host rows."
    )
    remote: RemoteBenchmark | None = Field(
        None, description="Also time the bundle on devices over ssh (recipe only; needs the package stage)."
    )
    recommend: Literal["auto", "int8", "fp32"] = Field(
        "auto", description="Which artifact each target recommends (manifest, report, `run`'s table, compare): "
        "auto, the fastest of FP32, INT8 and bf16 that meets quantize.min_cosine (p50 at batch 1 with the first "
        "thread count); int8, the fastest INT8 that meets it, else the target fails naming the best INT8 "
        "fidelity; fp32, the FP32 artifact."
    )

    @field_validator("batch_sizes")
    @classmethod
    def _batch_sizes_in_range(cls, values: list[int]) -> list[int]:
        return bounded_list(values, BATCH_SIZE)

    @field_validator("threads")
    @classmethod
    def _threads_in_range(cls, values: list[int]) -> list[int]:
        return bounded_list(values, THREADS)


def _list_or_auto(schema: dict) -> None:
    schema.pop("type", None)
    schema["anyOf"] = [{"type": "array", "items": schema.pop("items")}, {"const": "auto"}]


class DeviceSpec(StrictModel):
    kind: Literal["cpu", "gpu", "npu"] = Field("cpu", description="Processor class the profile runs on.")
    arch: Literal["x86_64", "arm64"] = Field("x86_64", description="Instruction set.")
    # The loader replaces 'auto' before validation (config/cpu_match.py), so the model holds a list;
    # the published schema still accepts what a profile may write.
    features: list[str] = Field(
        default_factory=list, description="CPU features the settings rely on (cpuinfo flag names), or 'auto' in a "
        "profile that extends a built-in: the settings of the built-in profile of its family that this CPU "
        "matches (AVX2, AVX-512 VNNI, AMX), for when the machine that times is the deployment CPU.",
        json_schema_extra=_list_or_auto,
    )
    picked: str | None = Field(
        None, description="Written by the loader where device.features is auto: which built-in profile's settings "
        "this CPU got, and why. Not for a profile to set."
    )
    board: str | None = Field(None, description="Board name, e.g. 'jetson-orin'.")


def _default_precisions() -> list[Precision]:
    # A named function because mypy infers a lambda's ["fp32", "int8"] as list[str], not list[Precision].
    return ["fp32", "int8"]


class TargetProfile(StrictModel):
    metadata: Metadata = Field(description="Name (defaults to, and must equal, the file name) and description.")
    backend: str = Field(description="Registered backend name, e.g. 'onnxruntime'.")
    device: DeviceSpec = Field(default_factory=DeviceSpec, description="Hardware the profile is tuned for.")
    precisions: list[Precision] = Field(default_factory=_default_precisions, description="Artifacts made.")
    export: ExportConfig = Field(default_factory=ExportConfig, description="Export settings this target needs.")
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig, description="Quantization defaults.")
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig, description="Benchmark defaults.")
    options: dict = Field(
        default_factory=dict, description="Backend-specific settings, checked by the backend's options model; a "
        "recipe's target_options are merged over them."
    )

    @model_validator(mode="after")
    def _no_devices(self) -> TargetProfile:
        # Which boards a user reaches over ssh is theirs to say, not a device profile's.
        if self.benchmark.remote is not None:
            raise ValueError("benchmark.remote belongs in the recipe, not in a target profile")
        return self


class Recipe(StrictModel):
    metadata: Metadata = Field(description="Name and description of the recipe.")
    model: ModelSpec = Field(description="The trained PyTorch model (the teacher).")
    input: InputSpec | None = Field(None, description="The model's one input (shorthand for a one-entry 'inputs').")
    inputs: list[InputSpec] | None = Field(
        None, description="The model's inputs in forward() order: name, shape, dtype, dynamic axes, value range."
    )
    outputs: list[str] | None = Field(
        None, description="Names for the model's outputs (tuples, dicts and nested outputs flattened): a tuple's "
        "in order; a dict's outputs keep their keys, which this must list (any order); each name once. Default: "
        "dict keys, else 'output' for one output and output_0, output_1, ... for several."
    )
    class_score_outputs: list[str] | None = Field(
        None, description="Outputs that hold class scores (top-1 agreement; accuracy on labels for the first one); "
        "default: every 2-D float output. [] for none, e.g. an embedding model."
    )
    output_batch_axes: dict[str, int | None] = Field(
        default_factory=dict, description="Outputs whose batch is not on axis 0, by name: its axis, or null for "
        "none, e.g. {logits: 1} for a CTC head's (T, B, C); evaluation joins batches along it. Default 0 (a "
        "state output: its input's batch_axis)."
    )
    state: dict[str, str] = Field(
        default_factory=dict, description="State pairs {output: input it feeds}, e.g. {next_state: state}: "
        "evaluation runs each artifact closed-loop over data.eval in order, one sample at a time, feeding each "
        "sample the artifact's own state from the sample before (the data's state at a sequence start)."
    )
    metric: MetricSpec | None = Field(
        None, description="A task metric over data.eval in every report, gate and accuracy-control decision; "
        "'package.module:function' or {function, lower_is_better}."
    )
    data: DataSpec = Field(description="Calibration and evaluation data.")
    stages: list[str] = Field(
        default_factory=lambda: ["export", "quantize", "benchmark"], description="Stages in run order."
    )
    targets: list[str] = Field(
        default_factory=lambda: ["x86-cpu-onnxruntime"],
        description="Target profiles: built-in or --targets-dir names (see `edge-pipeline targets`), or YAML paths.",
    )
    target_options: dict[str, dict] = Field(
        default_factory=dict, description="Backend options per target name, merged over the profile's own "
        "'options' and checked by its backend, e.g. {x86-cpu-openvino: {model_type: transformer}}."
    )
    export: ExportConfig = Field(default_factory=ExportConfig, description="Export settings.")
    quantize: QuantizeConfig = Field(
        default_factory=QuantizeConfig, description="Overrides of the targets' quantization defaults."
    )
    benchmark: BenchmarkConfig = Field(
        default_factory=BenchmarkConfig, description="Overrides of the targets' benchmark defaults."
    )
    distill: DistillConfig | None = Field(None, description="Settings of the 'distill' stage (defaults when absent).")
    prune: PruneConfig | None = Field(None, description="Settings of the 'prune' stage (defaults when absent).")

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_shorthand(cls, value):
        return {"function": value} if isinstance(value, str) else value

    @field_validator("targets")
    @classmethod
    def _some_target(cls, targets: list[str]) -> list[str]:
        if not targets:
            raise ValueError("list at least one target profile, e.g. ['x86-cpu-onnxruntime']")
        return targets

    @model_validator(mode="after")
    def _options_for_listed_targets(self) -> Recipe:
        # A profile named by its YAML path is named after the file (load_target checks that).
        names = [Path(entry).stem if Path(entry).suffix in {".yaml", ".yml"} else entry for entry in self.targets]
        unknown = sorted(set(self.target_options) - set(names))
        if unknown:
            raise ValueError(f"target_options names {unknown}, which are not in 'targets' {names}; "
                             "key them by a listed target's name")
        return self

    @model_validator(mode="after")
    def _one_input_form(self) -> Recipe:
        if (self.input is None) == (self.inputs is None):
            raise ValueError("set exactly one of 'input' (one input) or 'inputs' (a list, one entry per model input)")
        names = [spec.name for spec in self.input_specs]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"inputs need distinct names, got {names}")
        return self

    @field_validator("outputs")
    @classmethod
    def _distinct_outputs(cls, outputs: list[str] | None) -> list[str] | None:
        names = outputs or []
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"outputs {outputs} names {repeated} more than once; give each output its own name")
        return outputs

    @model_validator(mode="after")
    def _known_per_output_settings(self) -> Recipe:
        # A floor keyed by a misspelt name would never be checked; without 'outputs' the names are
        # the exported graph's, checked by the export stage (unknown_output_settings).
        if self.outputs is None:
            return self
        unknown = unknown_output_settings(self, self.outputs)
        if unknown:
            raise ValueError(unknown_outputs_message(unknown, self.outputs))
        return self

    @model_validator(mode="after")
    def _known_batch_axes_and_state(self) -> Recipe:
        # Without 'outputs' the names are the graph's own (an ONNX file): the export stage checks them.
        named = [name for name in [*self.output_batch_axes, *self.state]
                 if self.outputs is not None and name not in self.outputs]
        if named:
            raise ValueError(f"output_batch_axes/state name outputs {sorted(set(named))}, which are not in 'outputs' "
                             f"{self.outputs}; name one of those")
        negative = {name: axis for name, axis in self.output_batch_axes.items() if axis is not None and axis < 0}
        if negative:
            raise ValueError(f"output_batch_axes {negative}: an axis is 0 or more, or null for none")
        inputs = {spec.name: spec for spec in self.input_specs}
        for output, name in self.state.items():
            spec = inputs.get(name)
            if spec is None:
                raise ValueError(f"state pair {output} -> {name}: no input is named '{name}'; inputs are "
                                 f"{sorted(inputs)}")
            if self.output_batch_axis(output) != spec.batch_axis:
                raise ValueError(f"state pair {output} -> {name}: output batch axis {self.output_batch_axis(output)} "
                                 f"but input batch axis {spec.batch_axis}; make them equal (output_batch_axes)")
        if len(set(self.state.values())) != len(self.state):
            raise ValueError(f"state {self.state} feeds one input from two outputs; pair each input once")
        return self

    @model_validator(mode="after")
    def _metric_for_metric_settings(self) -> Recipe:
        uses = [key for key, used in (("quantize.max_metric_drop", self.quantize.max_metric_drop),
                                      ("quantize.control_metric", self.quantize.control_metric)) if used]
        if uses and self.metric is None:
            raise ValueError(f"{' and '.join(uses)} need a recipe 'metric' ('package.module:function')")
        if (self.metric is not None or uses) and self.data.eval is None:
            raise ValueError("the recipe 'metric' is computed over data.eval; add data.eval")
        return self

    @model_validator(mode="after")
    def _bundle_for_device_rows(self) -> Recipe:
        if self.benchmark.remote is not None and not {"benchmark", "package"} <= set(self.stages):
            raise ValueError("benchmark.remote attaches device rows to the bundle after the local benchmark; "
                             "list both 'benchmark' and 'package' in stages")
        return self

    @model_validator(mode="after")
    def _shrink_settings(self) -> Recipe:
        # Here, not when the stage starts: a missing setting must fail before any training.
        check_shrink_settings(self.stages, self.model.lineage, self.distill, self.prune)
        return self

    @property
    def input_specs(self) -> list[InputSpec]:
        """The model's inputs; a one-input recipe is the one-entry case."""
        return [self.input] if self.input is not None else list(self.inputs or [])

    def output_batch_axis(self, name: str) -> int | None:
        """Where output ``name`` holds its batch: output_batch_axes, else its state input's, else 0."""
        if name in self.output_batch_axes:
            return self.output_batch_axes[name]
        paired = {spec.name: spec.batch_axis for spec in self.input_specs}.get(self.state.get(name, ""), 0)
        return paired

    @property
    def single_input(self) -> InputSpec:
        """The one input of a one-input model (what training stages take today)."""
        specs = self.input_specs
        if len(specs) != 1:
            from edge_pipeline.errors import ConfigError

            raise ConfigError(f"this step takes a one-input model; the recipe lists inputs {[s.name for s in specs]}")
        return specs[0]


SectionT = TypeVar("SectionT", bound=StrictModel)


def effective_stage_config(recipe_section: SectionT, target_section: SectionT) -> SectionT:
    """Target defaults, overridden by the keys the recipe set explicitly."""
    merged = target_section.model_dump()
    merged.update(recipe_section.model_dump(exclude_unset=True))
    return type(target_section).model_validate(merged)


def unknown_output_settings(recipe: Recipe, known: list[str]) -> dict[str, list[str]]:
    """Per-output settings naming outputs not in ``known``: {setting: [unknown names]}."""
    named = {"quantize.min_cosine_per_output": list(recipe.quantize.min_cosine_per_output),
             "class_score_outputs": list(recipe.class_score_outputs or [])}
    return {key: [name for name in names if name not in known] for key, names in named.items()
            if any(name not in known for name in names)}


def unknown_outputs_message(unknown: dict[str, list[str]], known: list[str]) -> str:
    named = "; ".join(f"{key} names {names}" for key, names in unknown.items())
    return f"{named}, which the model does not output (its outputs: {list(known)}); use one of those names"
