"""An ONNX source's declared output shapes, set from what the model returns.

A file from elsewhere may declare an output (N, 7, 3) that the graph computes as (N, 4): runtimes
run it (ONNX Runtime only warns), but every tool that reads the declaration (a device's runtime
allocating buffers, a user's code, our own layout checks) is misled. The check run's shapes are
the truth, so the shipped ONNX declares them, with the batch axis kept dynamic where the model's
batch is, and the note says which outputs changed.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.calibration.layout import Layout


def correct_declared_shapes(path: Path, returned: dict[str, list[int]], layout: Layout) -> dict[str, dict]:
    """Rewrite ``path`` where a graph output's declared shape disagrees with ``returned`` (the check
    run's shapes by output name); {output: {declared, returns}} for each one corrected."""
    import onnx

    model = onnx.load(str(path))
    batch_name = _dynamic_batch_name(model, layout)
    corrected = {}
    for output in model.graph.output:
        got = returned.get(output.name)
        if got is None or not output.type.HasField("tensor_type"):
            continue
        declared = _declared(output)
        if declared is None or _agrees(declared, got):
            continue
        axis = layout.output_axis(output.name)
        # The declaration's own name for the batch dim where it had one (what the user's code reads).
        own = declared[axis] if axis is not None and axis < len(declared) else None
        batch = (own if isinstance(own, str) else batch_name) if batch_name is not None else None
        dims = output.type.tensor_type.shape.dim
        del dims[:]
        for index, size in enumerate(got):
            dim = dims.add()
            if index == axis and batch is not None:
                dim.dim_param = batch  # the batch stays dynamic: the check ran one batch size of many
            else:
                dim.dim_value = size
        corrected[output.name] = {"declared": [d if d is not None else "?" for d in declared],
                                  "returns": [batch if i == axis and batch else s for i, s in enumerate(got)]}
    if corrected:
        onnx.save(model, str(path))
    return corrected


def describe(corrected: dict[str, dict]) -> str:
    return "; ".join(f"output '{name}' was declared {_shape(c['declared'])} but returns {_shape(c['returns'])}"
                     for name, c in corrected.items()) + ": the shipped ONNX declares what it returns"


def _declared(output) -> list[int | str | None] | None:
    """The declared dims (int, a symbolic name, or None where unnamed); None without a declared shape."""
    tensor = output.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]


def _agrees(declared: list, got: list[int]) -> bool:
    """Same rank, and every fixed declared dim equal to the returned one (a symbolic dim matches any)."""
    if len(declared) != len(got):
        return False
    return all(not isinstance(d, int) or d == g for d, g in zip(declared, got, strict=True))


def _dynamic_batch_name(model, layout: Layout) -> str | None:
    """The symbolic name of the first graph input's batch dim, where it is dynamic."""
    initializers = {t.name for t in model.graph.initializer}
    for graph_input in model.graph.input:
        if graph_input.name in initializers:
            continue
        axis = layout.input_axis(graph_input.name)
        dims = graph_input.type.tensor_type.shape.dim
        if axis is not None and axis < len(dims) and not dims[axis].HasField("dim_value"):
            return dims[axis].dim_param or "batch"
    return None


def _shape(dims: list) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"
