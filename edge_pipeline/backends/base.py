"""The contract every backend implements: make its FP32 and INT8 artifacts, and run them.

Runners are context managers; ``infer`` validates and times nothing itself, subclasses
implement ``_infer``. This module imports only numpy so runners work on devices without torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_pipeline.calibration.layout import Layout, fixed_batch
from edge_pipeline.errors import EdgePipelineError

if TYPE_CHECKING:  # typing only: runners must import on a device with numpy and a runtime alone
    from edge_pipeline.artifacts.record import Artifact
    from edge_pipeline.calibration.dataset import ArrayDataset
    from edge_pipeline.config.schema import MetricSpec, QuantizeConfig, Recipe, TargetProfile

# Named tensors cross every module boundary: input name -> array, output name -> array.
Feed = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class RunnerOptions:
    threads: int = 1
    variant: str = "default"  # backend-specific runtime mode, e.g. OpenVINO 'f32' vs 'bf16'
    settings: dict = field(default_factory=dict)
    # Set: load with the runtime's per-layer profiler on (it slows every layer a little, so timed
    # runners never have it), writing any trace file at this path prefix (never the cwd).
    profile_prefix: str | None = None
    # Where each input and output holds its batch (a runtime that splits a batch splits it there).
    layout: Layout = field(default_factory=Layout)


@dataclass(frozen=True)
class InputInfo:
    name: str
    shape: tuple  # ints, or None / str for dynamic dimensions
    dtype: str


class Runner(ABC):
    """Loads one artifact and runs it. Use as ``with backend.runner(path, options) as r: ...``."""

    def __init__(self, path: Path, options: RunnerOptions):
        self.path = Path(path)
        self.options = options
        # ``load`` fills these from the loaded model: its inputs, and its outputs in ``_infer`` order.
        self._inputs: list[InputInfo] = []
        self._outputs: list[str] = []

    def __enter__(self) -> Runner:
        self.load()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def load(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    @property
    def inputs(self) -> list[InputInfo]:
        return self._inputs

    @property
    def output_names(self) -> list[str]:
        """The model's output names, in the order ``_infer`` returns them."""
        return self._outputs

    def infer(self, feed: Feed) -> Outputs:
        """Run ``feed`` (input name -> array) and return the outputs by name."""
        self._check_feed(feed)
        return dict(zip(self.output_names, self._infer(feed), strict=True))

    def prepare(self, feed: Feed) -> Callable[[], object]:
        """Check ``feed`` once and return a call that runs inference on it: what timing loops time.

        A runtime that can bind inputs ahead (an OpenVINO infer request) returns its bare
        inference call, so the timed loop holds the inference and the runtime's own call overhead,
        not this class's validation and output conversion.
        """
        self._check_feed(feed)
        return lambda: self._infer(feed)

    def has_runtime_clock(self, feed: Feed) -> bool:
        """Whether the runtime times each prepared call of ``feed`` itself (see runtime_latency_ms)."""
        return False

    def runtime_latency_ms(self) -> float:
        """The runtime's own timing of the last prepared call, where has_runtime_clock says it keeps one."""
        raise NotImplementedError(f"{type(self).__name__} keeps no clock of its own")

    def _check_feed(self, feed: Feed) -> None:
        expected = {i.name for i in self.inputs}
        if set(feed) != expected:
            raise EdgePipelineError(f"{self.path}: feed has inputs {sorted(feed)}, the model takes {sorted(expected)}")

    @abstractmethod
    def _infer(self, feed: Feed) -> list[np.ndarray]:
        """The outputs in ``output_names`` order."""

    def runtime_info(self) -> dict:
        """What the runtime actually compiled (precision, threads, ...), recorded in each benchmark row."""
        return {}

    def profile_layers(self, feed: Feed, warmup: int, runs: int) -> LayerProfile | None:
        """Per-layer time of ``runs`` inferences of ``feed`` after ``warmup`` unprofiled ones, from the
        runtime's own profiler (the runner is loaded with ``profile_prefix``); None where the runtime
        has no per-layer profiler."""
        return None

    def executed_graph(self) -> list[ExecutedNode] | None:
        """The graph the runtime executes for this artifact, its nodes named as ``profile_layers``
        names them, with the edges between them; None where the runtime cannot show it."""
        return None

    def fixed_batch(self, layout: Layout | None = None) -> int | None:
        """The batch size the model insists on, read at each input's batch axis (``layout``, else the
        options'), or None when the batch dimension is dynamic."""
        return fixed_batch(self.inputs, layout or self.options.layout)


@dataclass(frozen=True)
class ExecutedLayer:
    """A compute layer (convolution, matmul, fully connected) as the runtime executes it, read back
    after the runtime's own graph optimizations and fusions."""

    name: str  # the runtime's name for it; runtimes keep the source node's name where they can
    op_type: str
    precision: str  # "int8" or "float"
    aliases: tuple[str, ...] = ()  # other names the runtime records for it (the source ops it fused)
    kernel: str = ""  # the kernel it runs on this CPU, as the runtime names it or its rules pick it ('' unknown)


@dataclass(frozen=True)
class ExecutedNode:
    """One node of the graph a runtime executes, named as its profiler names it, with the nodes it
    reads from: what latency-aware placement walks to count the Q/DQ and reorder work around each
    compute layer as that layer's."""

    name: str
    op_type: str  # the runtime's op (ORT: QLinearConv, ReorderInput; OpenVINO: Convolution, Reorder)
    inputs: tuple[str, ...] = ()  # names of the nodes whose outputs it reads
    precision: str = ""  # a compute layer's precision, "int8" or "float"; '' for every other node
    aliases: tuple[str, ...] = ()  # names that lead back to the source node (the ones it was made from)


@dataclass(frozen=True)
class LayerTime:
    """One executed layer's time summed over the profiled runs, as the runtime's profiler reports it."""

    name: str  # the runtime's name (after its fusions: ORT's 'r_nchwc', OpenVINO's fused node)
    op_type: str  # the runtime's op (ORT: the ONNX op or its own, e.g. ReorderOutput; OpenVINO: Convolution)
    total_ms: float
    kernel: str = ""  # the implementation that ran it: OpenVINO's exec type, ORT's execution provider
    precision: str = ""  # the precision it ran in, where the profiler says


@dataclass(frozen=True)
class LayerProfile:
    layers: list[LayerTime]
    runs: int  # the inferences the times are summed over
    trace: str | None = None  # the runtime's own trace file, where it writes one


@dataclass
class ProducedArtifact:
    """A file a backend wrote, before the stage turns it into an Artifact record."""

    path: Path
    kind: str
    precision: str
    variant: str = "default"
    meta: dict = field(default_factory=dict)

    def with_meta(self, **meta) -> ProducedArtifact:
        """The same file with ``meta`` added to (or replacing keys of) its meta."""
        return replace(self, meta={**self.meta, **meta})


@dataclass(frozen=True)
class FallbackStrategy:
    """A whole-model alternative the fidelity fallback tries before keeping single layers float."""

    name: str  # what it is, for the round log and the error on a miss
    config: dict = field(default_factory=dict)  # the QuantizeConfig fields it sets
    options: dict = field(default_factory=dict)  # the target's backend options it sets (checked by the backend)


@dataclass
class DeviceStep:
    """Work after quantization that turns an artifact into what a device loads (a TensorRT engine
    build, a device bundle). The quantize stage runs ``produce`` through the stage cache with
    ``material`` in the key, or records ``skipped`` (why, and the fix) in the run's notes."""

    name: str
    material: dict = field(default_factory=dict)
    produce: Callable[[Path], list[ProducedArtifact]] | None = None
    skipped: str | None = None


class Backend(ABC):
    """What a backend does. What it *is* (files, extras, variants, options) is its registry row."""

    name: str = ""
    runs_exported_onnx = False  # True: the FP32 artifact is the exported ONNX itself

    @classmethod
    @abstractmethod
    def versions(cls) -> dict[str, str]: ...

    @abstractmethod
    def runner(self, path: Path, options: RunnerOptions) -> Runner: ...

    def runtime_variants(self, precision: str, target: TargetProfile) -> list[str]:
        """Runtime modes worth timing for an artifact of this precision (one row each)."""
        return ["default"]

    def variants_for(self, artifact: Artifact, target: TargetProfile) -> list[str]:
        """Runtime variants for one artifact record; backends whose artifact kinds run differently
        (a TensorRT engine vs its ONNX) override this, the rest keep ``runtime_variants``."""
        return self.runtime_variants(artifact.precision, target)

    def device_steps(self, artifact: Artifact, target: TargetProfile) -> list[DeviceStep]:
        """Steps the quantize stage runs on each artifact made for ``target`` (none by default)."""
        return []

    def executed_layers(self, path: Path, options: RunnerOptions) -> list[ExecutedLayer] | None:
        """The compute layers the runtime executes for ``path``, each with its precision; None where
        this backend cannot read that back (the report then says nothing rather than guess)."""
        return None

    def layer_outputs(self, path: Path, options: RunnerOptions, feed: dict[str, np.ndarray],
                      names: list[str]) -> dict[str, np.ndarray] | None:
        """The intermediate tensors among ``names`` (the FP32 ONNX's tensor names) that ``path``
        computes on ``feed``, as this runtime runs it; None where it cannot expose them."""
        return None

    def fallback_strategies(self, onnx_path: Path, config: QuantizeConfig,
                            target: TargetProfile) -> list[FallbackStrategy]:
        """Whole-model alternatives the fidelity fallback tries before keeping single layers float,
        cheapest first. None by default."""
        return []

    def check_target(self, target: TargetProfile, recipe: Recipe) -> None:  # noqa: B027 - optional hook
        """Raise a ConfigError/DataError for settings this backend rejects, before any stage runs."""

    def prepare_fp32(self, onnx_path: Path, target: TargetProfile, out_dir: Path) -> list[ProducedArtifact]:
        """The FP32 artifact(s) this backend runs, converted from the exported ONNX into ``out_dir``."""
        raise NotImplementedError(f"backend {self.name} runs the exported ONNX as its FP32 artifact")

    @abstractmethod
    def quantize(
        self, onnx_path: Path, dataset: ArrayDataset, config: QuantizeConfig, target: TargetProfile, out_dir: Path,
        eval_data: ArrayDataset | None = None, metric: MetricSpec | None = None,
    ) -> list[ProducedArtifact]:
        """INT8 artifact(s) in ``out_dir``. ``eval_data`` (labelled ArrayDataset or None) serves
        accuracy-controlled quantization (``config.max_drop``), judged by top-1 or, with
        ``config.control_metric``, by that figure of the recipe's ``metric``; backends without
        accuracy control ignore both."""
