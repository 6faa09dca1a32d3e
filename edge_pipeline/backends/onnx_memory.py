"""An ONNX graph's calibration footprint (calibration/footprint.py) read off the graph itself: its
weights, and the float tensors one sample makes at the calibration data's shapes.

Dynamic dims (a detector's H and W) are pinned to a one-sample feed's shapes first, then ONNX shape
inference with data propagation follows Shape/Gather/Concat chains into Resize sizes. Only shapes
are needed, so large initializers are handed to inference as typed inputs without their bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper

from edge_pipeline.calibration.footprint import GraphFootprint

_FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE)
# Initializers at most this size keep their values: they are the shape constants inference reads.
_SMALL_INITIALIZER = 4096


def graph_footprint(model: onnx.ModelProto, feed_shapes: Mapping[str, tuple[int, ...]],
                    tensors: Iterable[str] | None = None) -> GraphFootprint:
    """``feed_shapes``: each graph input's full shape in a feed of one sample (its batch axis, if
    any, of size 1); ``tensors``: those the statistics track (default: every float tensor)."""
    weights = sum(_initializer_bytes(init) for init in model.graph.initializer)
    sizes = _float_tensor_sizes(_shapes_only(model, feed_shapes), {i.name for i in model.graph.initializer})
    known = [size for size in sizes.values() if size is not None]
    largest = max(known, default=0)
    unknown = sum(1 for size in sizes.values() if size is None)
    activations = sum(known) + unknown * largest
    tracked = len(set(tensors)) if tensors is not None else len(sizes)
    return GraphFootprint(weights, activations, largest, tracked, unknown)


def _initializer_bytes(init: TensorProto) -> int:
    count = int(np.prod(init.dims, dtype=np.int64)) if init.dims else 1
    return count * _itemsize(init.data_type)


def _itemsize(data_type: int) -> int:
    try:
        return int(np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).itemsize)
    except (KeyError, TypeError, ValueError):
        return 4


def _shapes_only(model: onnx.ModelProto, feed_shapes: Mapping[str, tuple[int, ...]]) -> onnx.ModelProto:
    """A copy with every input pinned to one sample and large weights as bare typed inputs, shape-inferred."""
    light = _without_weights(model)
    weights = {init.name for init in model.graph.initializer}
    for value in light.graph.input:
        if value.name in weights or value.name not in feed_shapes:
            continue
        dims = value.type.tensor_type.shape.dim
        pinned = tuple(feed_shapes[value.name])
        if len(dims) != len(pinned):
            continue  # a rank mismatch is the data check's to report
        for dim, size in zip(dims, pinned, strict=True):
            dim.Clear()
            dim.dim_value = int(size)
    del light.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(light, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError, ValueError):
        return light  # every intermediate then counts as unknown


def _without_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose large initializers are graph inputs of their type and shape (no bytes copied)."""
    kept = list(model.graph.initializer)
    light = onnx.ModelProto()
    del model.graph.initializer[:]
    try:
        light.CopyFrom(model)
    finally:
        model.graph.initializer.extend(kept)
    declared = {value.name for value in light.graph.input}
    for init in kept:
        if _initializer_bytes(init) <= _SMALL_INITIALIZER:
            light.graph.initializer.append(init)
        elif init.name not in declared:
            light.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return light


def _float_tensor_sizes(model: onnx.ModelProto, weights: set[str]) -> dict[str, int | None]:
    """Bytes of each float tensor a node makes or the graph takes (None: shape unknown)."""
    values = {v.name: v for v in (*model.graph.input, *model.graph.value_info, *model.graph.output)}
    names = [v.name for v in model.graph.input if v.name not in weights]
    names += [name for node in model.graph.node for name in node.output if name]
    sizes: dict[str, int | None] = {}
    for name in names:
        value = values.get(name)
        if value is None:
            sizes[name] = None
            continue
        if not value.type.HasField("tensor_type") or value.type.tensor_type.elem_type not in _FLOAT_TYPES:
            continue
        tensor = value.type.tensor_type
        dims = tensor.shape.dim
        if not tensor.HasField("shape") or any(not d.HasField("dim_value") for d in dims):
            sizes[name] = None
            continue
        sizes[name] = int(np.prod([d.dim_value for d in dims], dtype=np.int64)) * _itemsize(tensor.elem_type)
    return sizes
