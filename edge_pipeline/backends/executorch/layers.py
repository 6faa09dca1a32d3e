"""The per-layer view of an INT8 ``.pte``: the PT2E-converted program it was lowered from, run in torch.

The XNNPACK delegate exposes no intermediate tensors, so the fidelity fallback's layer view comes
from the converted program (convert_pt2e's quantize/dequantize pairs around every annotated op,
the same scales the ``.pte`` holds) run by torch's FX interpreter. This is the quantization the
artifact carries, not the delegate's kernels: XNNPACK's int8 arithmetic and requantization round
differently, so per-layer SQNR here is a close reading of where quantization error enters, not a
measurement of the runtime. Each value is read where its consumers read it: after the
quantize/dequantize pair that follows it, if any (the int8 tensor the delegate passes on).

The converted program is kept in memory for the ``.pte`` files this process quantized (keyed by
the file's sha256, so a trial's file moved into the step's folder is still found); any other
``.pte`` has no view (None).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge_pipeline.backends.executorch.runner import as_tensor

KEPT = 8  # converted programs held: a fallback round's trials and the step's artifact


@dataclass(frozen=True)
class Converted:
    module: torch.fx.GraphModule  # convert_pt2e's output, in torch
    onnx_path: Path  # the FP32 ONNX whose names the view is asked for
    input_names: list[str]
    example: tuple  # one tensor per input at the program's own (static) shapes


_MEMO: OrderedDict[str, Converted] = OrderedDict()


def remember(pte: Path, converted: Converted) -> None:
    _MEMO[_digest(pte)] = converted
    while len(_MEMO) > KEPT:
        _MEMO.popitem(last=False)


def layer_outputs(pte: Path, feed: dict[str, np.ndarray], names: list[str],
                  batch_axes: dict[str, int | None]) -> dict[str, np.ndarray] | None:
    """The tensors among ``names`` (the FP32 ONNX's) that the converted program behind ``pte``
    computes on ``feed``; None where this process did not quantize ``pte`` or no name maps."""
    from edge_pipeline.backends.executorch.names import ProgramNames

    converted = _MEMO.get(_digest(pte)) if Path(pte).is_file() else None
    if converted is None:
        return None
    mapping = ProgramNames(converted.onnx_path, converted.module.graph)
    wanted = {name: fx for name in names if (fx := mapping.tensor_node(name)) is not None}
    if not wanted:
        return None
    read_at = {fx: _read_point(mapping.fx[fx]) for fx in wanted.values()}
    runs = [_run(converted.module, args, set(read_at.values())) for args in _pieces(converted, feed, batch_axes)]
    if not runs:
        return None
    got = {}
    for name, fx in wanted.items():
        values = [run[read_at[fx]] for run in runs if read_at[fx] in run]
        if len(values) == len(runs):
            got[name] = values[0] if len(values) == 1 else np.concatenate(values)
    return got


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_point(node) -> str:
    """The node whose value consumers read: the dequantize after ``node``'s quantize, else ``node``."""
    users = list(node.users)
    if users and all("quantize_per_tensor" in str(u.target) for u in users):
        after = [v for u in users for v in u.users if "dequantize" in str(v.target)]
        if after:
            return after[0].name
    return node.name


def _pieces(converted: Converted, feed: dict[str, np.ndarray], axes: dict[str, int | None]) -> list[tuple]:
    """``feed`` cut into the program's fixed batch along each input's batch axis (an input without
    one goes whole into each piece); a short last piece is dropped."""
    counts = {name: feed[name].shape[axis] // like.shape[axis]
              for name, like in zip(converted.input_names, converted.example, strict=True)
              if (axis := axes.get(name, 0)) is not None and feed[name].ndim > axis and like.shape[axis]}
    pieces = min(counts.values(), default=1)
    out = []
    for index in range(pieces):
        args = []
        for name, like in zip(converted.input_names, converted.example, strict=True):
            value, axis = feed[name], axes.get(name, 0)
            if axis is not None and value.ndim > axis and like.shape[axis]:
                step = like.shape[axis]
                value = np.take(value, range(index * step, (index + 1) * step), axis=axis)
            args.append(as_tensor(value, like.dtype))
        if all(tuple(a.shape) == tuple(like.shape) for a, like in zip(args, converted.example, strict=True)):
            out.append(tuple(args))
    return out


def _run(module: torch.fx.GraphModule, args: tuple, read: set[str]) -> dict[str, np.ndarray]:
    seen: dict[str, np.ndarray] = {}

    class Reader(torch.fx.Interpreter):
        def run_node(self, node):
            value = super().run_node(node)
            if node.name in read and isinstance(value, torch.Tensor):
                seen[node.name] = value.detach().float().numpy().copy()
            return value

    with torch.no_grad():
        Reader(module).run(*args)
    return seen
