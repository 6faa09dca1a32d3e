"""Every artifact the quantize stage writes is loaded and run before it counts, and held to the
recipe's fidelity floor: per output, cosine to the FP32 ONNX (run in ONNX Runtime, the reference
runtime) on held-out samples. A miss fails the step naming the output; nothing is published."""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import Backend, ExecutedLayer, Runner, RunnerOptions
from edge_pipeline.backends.registry import descriptor, format_for_path, get_backend
from edge_pipeline.benchmarking.fidelity import fidelity_by_output
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.layout import Layout, fixed_batch, run_all, sample_count
from edge_pipeline.calibration.task_metric import task_figures, worsening
from edge_pipeline.config.schema import MetricSpec, QuantizeConfig, TargetProfile
from edge_pipeline.errors import FidelityFloorError, StageError
from edge_pipeline.fidelity.floors import hold_floor, refuse_constant_reference

REFERENCE_BACKEND = "onnxruntime"


@dataclass(frozen=True)
class MetricFloor:
    """The recipe's task metric, the largest worsening per figure (quantize.max_metric_drop) and data.eval."""

    spec: MetricSpec
    limits: dict[str, float]
    data: ArrayDataset


class FP32Reference:
    """The FP32 ONNX's outputs and layer tensors, each computed once per dataset: a quantize step
    checks and profiles several artifacts, and the fallback many attempts, against the same ones.
    Datasets are told apart by their content hash and size, so keep one per quantize step."""

    def __init__(self, source_onnx: Path):
        self.source = Path(source_onnx)
        self._outputs: dict[tuple, dict[str, np.ndarray]] = {}
        self._layers: dict[tuple, dict[str, np.ndarray]] = {}

    def outputs(self, data: ArrayDataset) -> dict[str, np.ndarray]:
        key = (data.sha256, len(data))
        if key not in self._outputs:
            with get_backend(REFERENCE_BACKEND).runner(self.source, RunnerOptions(threads=2)) as reference:
                self._outputs[key] = _run(reference, data)
        return self._outputs[key]

    def layer_outputs(self, data: ArrayDataset, feed: dict[str, np.ndarray], names: list[str]) -> dict:
        """``names`` on ``feed`` (made from ``data``, which keys the memo)."""
        key = (data.sha256, len(data))
        if key not in self._layers:
            found = get_backend(REFERENCE_BACKEND).layer_outputs(self.source, RunnerOptions(threads=2), feed, names)
            self._layers[key] = found or {}
        return self._layers[key]


def check_options(target: TargetProfile, layout: Layout | None = None) -> RunnerOptions:
    """How the checks run an artifact: the target's default runtime mode and options, 2 threads.

    Without the target's ONNX Runtime execution providers: the device's accelerator (CUDA, NNAPI) is
    rarely on the build host, and the numbers are checked against a CPU reference anyway."""
    row = descriptor(target.backend)
    settings = {key: value for key, value in (target.options or {}).items() if key != "providers"}
    return RunnerOptions(threads=2, variant=row.default_variant, settings=settings, layout=layout or Layout())


def check_artifact(path: Path, kind: str, source_onnx: Path, backend: Backend, target: TargetProfile,
                   config: QuantizeConfig, data: ArrayDataset, metric_floor: MetricFloor | None = None,
                   reference: FP32Reference | None = None) -> dict[str, dict] | None:
    """Per-output fidelity of ``path`` against ``source_onnx`` (and the metric floor held over data.eval);
    None where this host cannot run it. ``reference``: the step's memo of the FP32 outputs."""
    if not _runs_here(path, kind, target):
        return None
    reference = reference or FP32Reference(source_onnx)
    sample = data.take(config.fidelity_samples)
    what = f"{Path(path).name} ({target.metadata.name})"
    want = reference.outputs(sample)
    refuse_constant_reference(want, sample, config, what)
    fidelity = fidelity_by_output(_artifact_outputs(path, backend, target, sample), want)
    hold_floor(fidelity, config, what)
    if metric_floor is not None:
        _hold_metric_floor(path, reference, backend, target, metric_floor, what)
    return {name: figures.model_dump() for name, figures in fidelity.items()}


def _runs_here(path: Path, kind: str, target: TargetProfile) -> bool:
    row = descriptor(target.backend)
    artifact_format = row.format_of(kind) or format_for_path(row, Path(path))
    if artifact_format is None or not artifact_format.timed:
        return False
    runtime = artifact_format.runtime_module or row.runtime_module
    # e.g. a TensorRT engine on a host without TensorRT: built and timed on the device
    return importlib.util.find_spec(runtime) is not None


def _artifact_outputs(path: Path, backend: Backend, target: TargetProfile, data: ArrayDataset) -> dict:
    try:
        with backend.runner(Path(path), check_options(target, data.layout)) as runner:
            return _run(runner, data)
    except StageError:
        raise
    except Exception as exc:  # a runtime's own load or run failure: the artifact does not work
        raise StageError(f"{Path(path).name} for target {target.metadata.name} does not load and run: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def _hold_metric_floor(path: Path, reference: FP32Reference, backend: Backend, target: TargetProfile,
                       floor: MetricFloor, what: str) -> None:
    got = _artifact_outputs(path, backend, target, floor.data)
    want = reference.outputs(floor.data)
    labels = floor.data.labels
    name, first = next(iter(got.items()))
    ran = sample_count(first, floor.data.layout.output_axis(name))
    if labels is not None and len(labels) != ran:
        labels = labels[:ran]  # a fixed-batch model drops the short last batch
    reached = task_figures(floor.spec, got, labels)
    fp32 = task_figures(floor.spec, want, labels)
    for figure, limit in floor.limits.items():
        if figure not in reached:
            raise StageError(f"quantize.max_metric_drop names '{figure}', which metric '{floor.spec.function}' does "
                             f"not return (it returns {sorted(reached)}); name one of those")
        worse = worsening(floor.spec, figure, fp32[figure], reached[figure])
        if worse > limit:
            raise FidelityFloorError(
                f"{what}: metric '{figure}' is {reached[figure]:.4g} vs FP32 {fp32[figure]:.4g}, worse by "
                f"{worse:.4g}, beyond quantize.max_metric_drop {limit:g}; keep more layers in float "
                "(quantize.exclude_nodes / exclude_op_types), calibrate with more data, or allow a larger drop",
                artifact=what, reached=-worse, floor=-limit,
            )


def _run(runner: Runner, data: ArrayDataset) -> dict[str, np.ndarray]:
    """All outputs on ``data``, joined along each output's batch axis: one fixed-size batch at a time
    when the model's batch is fixed, closed-loop on the runner's own state where the recipe pairs any."""
    fixed = fixed_batch(runner.inputs, data.layout)
    arrays = data.named_for([i.name for i in runner.inputs])
    dtypes = {i.name: i.dtype for i in runner.inputs}
    return run_all(runner.infer, arrays, data.layout, fixed or len(data), data.sequence_start, dtypes,
                   whole_batches=fixed is not None)


def executed_summary(path: Path, kind: str, backend: Backend, target: TargetProfile,
                     source_onnx: Path) -> dict | None:
    """What the runtime executes for ``path``: INT8 and float compute layers, read back from it and
    named after the source ONNX's nodes where the runtime's names lead back to one."""
    if not _runs_here(path, kind, target):
        return None
    layers = backend.executed_layers(Path(path), check_options(target))
    if layers is None:
        return None
    name_of = source_names(source_onnx)
    kernels = Counter(layer.kernel for layer in layers if layer.kernel)
    return {
        "int8_layers": sum(layer.precision == "int8" for layer in layers),
        "float_layers": [{"name": name_of(layer), "op_type": layer.op_type} for layer in layers
                         if layer.precision != "int8"],
        "kernels": dict(kernels.most_common()),
        "read_from": f"{target.backend} on this host after its graph optimizations",
    }


def source_names(source_onnx: Path):
    """layer -> the source ONNX node it runs: its name or an alias that is a node's, else the node
    producing the tensor an alias names (OpenVINO names a bias Add after its output), else its own."""
    import onnx

    graph = onnx.load(str(source_onnx), load_external_data=False).graph
    nodes = {n.name for n in graph.node}
    producers = {out: n.name for n in graph.node for out in n.output}

    def name_of(layer: ExecutedLayer) -> str:
        for alias in (layer.name, *layer.aliases):
            if alias in nodes:
                return alias
        return next((producers[a] for a in (layer.name, *layer.aliases) if a in producers), layer.name)

    return name_of
