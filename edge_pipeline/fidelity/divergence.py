"""Per-layer divergence of a quantized artifact from its FP32 ONNX, and which layers to keep in float.

Every intermediate tensor the FP32 ONNX computes is read from the reference (ONNX Runtime on the
FP32 model) and from the artifact as its own runtime runs it (ONNX Runtime for QDQ models,
OpenVINO's CPU plugin for an IR, ONNX Runtime for TensorRT's Q/DQ model). Per tensor: the SQNR to
FP32. Per layer: how much it lowers the SQNR below its inputs' (``added_db``), which is the error its
own quantization brings, the number the fallback ranks by. One pass over a few samples, no
per-layer re-quantization: cheap enough to run on every INT8 artifact for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import Backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import TargetProfile
from edge_pipeline.errors import EdgePipelineError
from edge_pipeline.fidelity.check import FP32Reference, check_options
from edge_pipeline.fidelity.state import with_carried_states

PROFILE_SAMPLES = 8
# Ops that move or reshape data: they add no error of their own, so are never worth keeping float.
PASS_THROUGH = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Slice", "Concat", "Split",
                 "Gather", "Shape", "Cast", "QuantizeLinear", "DequantizeLinear", "Constant", "Expand"}


class LayerViewError(EdgePipelineError):
    """The artifact's runtime could not expose its intermediate tensors: no per-layer view, never a
    failed step (the per-output floor is checked without it)."""

FOLDED_ACTIVATIONS = {"Relu", "Clip"}
COMPUTE_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


@dataclass(frozen=True)
class LayerDivergence:
    tensor: str
    node: str
    op_type: str
    sqnr_db: float  # this tensor, INT8 vs FP32
    added_db: float  # how far below its inputs' SQNR this layer's output falls (its own error)


def divergence_profile(fp32_onnx: Path, artifact: Path, backend: Backend, target: TargetProfile,
                       data: ArrayDataset, reference: FP32Reference | None = None) -> list[LayerDivergence] | None:
    """Every float layer output of the FP32 model, in graph order; None where the artifact's runtime
    cannot expose intermediate tensors (an ORT-format model, an engine). ``reference``: the step's
    memo of the FP32 tensors."""
    import onnx

    reference = reference or FP32Reference(fp32_onnx)
    model = onnx.load(str(fp32_onnx), load_external_data=False)
    names = [out for node in model.graph.node for out in node.output if out]
    sample = _sample(model, with_carried_states(fp32_onnx, data) if data.layout.state else data)
    feeds = sample.feeds(len(sample), _input_names(model))
    # A model with state runs one sample a feed: the last carries the FP32 run's own state, not the
    # data's initial one, so its layers are seen as deployed.
    feed = next(feeds) if not data.layout.state else list(feeds)[-1]
    try:
        got = backend.layer_outputs(Path(artifact), check_options(target), feed, names)
        if got is None:
            return None
        want = reference.layer_outputs(sample, feed, names)
    except Exception as exc:  # any runtime's failure to expose layers: the view is skipped, named
        raise LayerViewError(f"{Path(artifact).name}: per-layer tensors could not be read "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    sqnr = {name: _sqnr_db(want[name], got[name]) for name in names if name in want and name in got
            and np.shape(want[name]) == np.shape(got[name])}
    return _layers(model, sqnr)


def worst_layers(profile: list[LayerDivergence], skip: set[str], count: int) -> list[LayerDivergence]:
    """The ``count`` layers to try float next, one entry per node, not yet kept float and not
    pass-through: those that add the most error first, then (once no layer adds any) the rest by
    lowest SQNR, since error that accumulates through a loop or a long chain adds little per layer."""
    eligible = [layer for layer in profile
                if layer.node and layer.node not in skip and layer.op_type not in PASS_THROUGH]
    adding = sorted((layer for layer in eligible if layer.added_db > 0.0), key=lambda layer: -layer.added_db)
    rest = sorted((layer for layer in eligible if layer.added_db <= 0.0 and not math.isinf(layer.sqnr_db)),
                  key=lambda layer: layer.sqnr_db)
    ranked, seen = [], set()
    for layer in [*adding, *rest]:
        if layer.node not in seen:
            seen.add(layer.node)
            ranked.append(layer)
    return ranked[:count]


def _input_names(model) -> list[str]:
    initializers = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _sample(model, data: ArrayDataset) -> ArrayDataset:
    """The samples the profile runs: PROFILE_SAMPLES, or the model's fixed batch."""
    first = next(i for i in model.graph.input if i.name == _input_names(model)[0])
    dims = first.type.tensor_type.shape.dim
    fixed = bool(dims) and dims[0].HasField("dim_value") and dims[0].dim_value > 0
    return data.take(dims[0].dim_value if fixed else PROFILE_SAMPLES)


def _sqnr_db(reference: np.ndarray, value: np.ndarray) -> float:
    """SQNR over the finite entries; entries where the two disagree on a non-finite value (a mask's
    -inf read as a finite number, a NaN) make it -inf."""
    reference = np.asarray(reference, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    finite = np.isfinite(reference) & np.isfinite(value)
    if not np.array_equal(np.where(finite, 0.0, reference), np.where(finite, 0.0, value), equal_nan=True):
        return -math.inf
    reference, value = reference[finite], value[finite]
    noise = float(np.sum((reference - value) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0.0:
        return math.inf
    if not (math.isfinite(noise) and math.isfinite(signal)) or signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _layers(model, sqnr: dict[str, float]) -> list[LayerDivergence]:
    producers = {out: node for node in model.graph.node for out in node.output}
    layers = []
    for node in model.graph.node:
        inputs = [sqnr[t] for t in node.input if t in sqnr]
        owner = _owner(node, producers, sqnr)
        for out in node.output:
            if out not in sqnr:
                continue
            before = min(inputs) if inputs else math.inf
            added = 0.0 if math.isinf(sqnr[out]) else (
                (before - sqnr[out]) if math.isfinite(before) else 60.0 - min(sqnr[out], 60.0))
            layers.append(LayerDivergence(out, owner.name, owner.op_type, sqnr[out], max(added, 0.0)))
    return layers


def _owner(node, producers: dict, sqnr: dict[str, float]):
    """The node a layer's error belongs to. A Relu/Clip right after a compute layer whose own
    output was not seen is that layer's activation, folded into its output range by the quantizer:
    keeping the Relu float would change nothing, keeping the compute layer float does."""
    if node.op_type in FOLDED_ACTIVATIONS and node.input and node.input[0] not in sqnr:
        producer = producers.get(node.input[0])
        if producer is not None and producer.op_type in COMPUTE_OPS:
            return producer
    return node
