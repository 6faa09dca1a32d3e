"""PyTorch -> ONNX with the dynamo exporter, checked by onnx.checker and against PyTorch numerically."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from edge_pipeline.calibration.layout import (
    Layout,
    fixed_batch,
    run_all,
    sample_axis,
    sample_count,
    samples,
    without_axis,
)
from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import StageError
from edge_pipeline.logs import quiet_logger


def export_onnx(model, specs: InputSpec | list[InputSpec], config: ExportConfig, out_path: Path,
                check_inputs: np.ndarray | dict[str, np.ndarray], declared_outputs: list[str] | None = None,
                layout: Layout | None = None) -> dict:
    """Write ``out_path`` and return what the checks measured. Raises StageError on any failure.

    ``specs`` lists the inputs in forward() order (one spec for a one-input model) and
    ``check_inputs`` holds real samples by input name (a bare array for a one-input model), each
    along its batch axis; ``layout``: the recipe's batch axes and state pairs.
    """
    specs = [specs] if isinstance(specs, InputSpec) else list(specs)
    layout = layout or Layout(inputs={spec.name: spec.batch_axis for spec in specs})
    if isinstance(check_inputs, np.ndarray):
        check_inputs = {specs[0].name: check_inputs}
    dynamic = specs[0].dynamic_batch if config.dynamic_batch is None else config.dynamic_batch
    names = _torch_export(model, specs, config.opset, dynamic, out_path, declared_outputs, layout)
    simplified = _simplify(out_path) if config.simplify else False
    check_onnx_file(out_path)
    batch = None if dynamic else declared_batch(specs)
    sample = {name: samples(values, 0, config.check_samples, layout.input_axis(name))
              for name, values in check_inputs.items()}
    numeric = compare_with_torch(model, out_path, sample, batch, names, layout)
    check_finite_outputs(out_path, check_inputs, config.check_samples, layout=layout)
    for name, figures in numeric["outputs"].items():
        if not figures["max_abs_diff"] <= config.max_abs_diff or not figures["cosine"] >= config.min_cosine:
            raise StageError(
                f"exported ONNX output '{name}' differs from PyTorch: max |diff| {figures['max_abs_diff']:.3g} "
                f"(allowed {config.max_abs_diff:g}), cosine {figures['cosine']:.6f} (needs >= {config.min_cosine}); "
                "check the model for export-unsafe ops, or relax export.max_abs_diff / export.min_cosine"
            )
    return {"opset": config.opset, "dynamic_batch": dynamic, "simplified": simplified, "outputs": names,
            "numeric_check": numeric}


def declared_batch(specs: list[InputSpec]) -> int:
    """The batch the recipe's shapes declare: the first input with a batch axis (1 when none has one)."""
    return next((spec.declared_batch for spec in specs if spec.batch_axis is not None), 1)


def example_tensors(specs: list[InputSpec], batch: int) -> tuple:
    """One tensor per input: zeros for floats, ones for integers and booleans (a valid token id, a
    mask that keeps every position)."""
    import torch

    tensors = []
    for spec in specs:
        dtype = getattr(torch, spec.dtype)
        fill = torch.zeros if dtype.is_floating_point else torch.ones
        tensors.append(fill(spec.shape_at(batch), dtype=dtype))
    return tuple(tensors)


def _dynamic_shapes(specs: list[InputSpec], dynamic: bool) -> tuple | None:
    """Named dims shared across inputs (ids and mask share 'sequence'); the batch is each input's batch
    axis (an RNN state's axis 1), one dim shared by all."""
    import torch

    dims: dict[str, object] = {}

    def dim(name: str):
        return dims.setdefault(name, torch.export.Dim(name, min=1, max=4096))

    shapes = []
    for spec in specs:
        axes = {axis: dim(name) for axis, name in spec.dynamic_axes.items()}
        if dynamic and spec.batch_axis is not None:
            axes[spec.batch_axis] = dim("batch")
        shapes.append(axes or None)
    return tuple(shapes) if any(shapes) else None


def _torch_export(model, specs: list[InputSpec], opset: int, dynamic: bool, out_path: Path,
                  declared_outputs: list[str] | None, layout: Layout) -> list[str]:
    import torch

    from edge_pipeline.modeling.outputs import flatten_outputs, output_names

    # A batch of 2 in the example keeps torch.export from specialising a dynamic batch to 1.
    batch = 2 if dynamic else declared_batch(specs)
    example = example_tensors(specs, batch)
    with torch.no_grad():
        returned = model(*example)
    names = output_names(returned, declared_outputs)
    shapes = {name: list(leaf.shape) for name, (_, leaf) in zip(names, flatten_outputs(returned), strict=True)}
    check_layout(shapes, specs, layout, batch)
    chatter = io.StringIO()
    try:
        with (warnings.catch_warnings(), contextlib.redirect_stdout(chatter),
              quiet_logger("torch.onnx", logging.ERROR), _torchlib_registry_built_once()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                example,
                str(out_path),
                dynamo=True,
                external_data=False,
                opset_version=opset,
                input_names=[spec.name for spec in specs],
                dynamic_shapes=_dynamic_shapes(specs, dynamic),
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StageError(f"torch.onnx.export failed at opset {opset}: {first}") from exc
    rename_outputs(out_path, names)
    return names


_REGISTRIES: dict[int, object] = {}


@contextlib.contextmanager
def _torchlib_registry_built_once():
    """torch.onnx.export (dynamo) builds its aten -> ONNX function registry from torchlib anew on every
    call: about 0.6 s per export, more than exporting a small model takes, and a run exports every
    model once per stage that needs it. The registry depends only on its opset and the exporter only
    reads it (we pass no custom_translation_table, the one thing that adds to it), so while this
    export runs, the registry built for an opset by an earlier export is handed out again. Where a
    torch release moves the private hook, exports build it each time, as before."""
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
    except ImportError:
        yield
        return
    build = ONNXRegistry.__dict__.get("from_torchlib")
    if not isinstance(build, classmethod):
        yield
        return

    def built_once(cls, opset_version=None):
        opset = ONNXRegistry().opset_version if opset_version is None else opset_version
        if opset not in _REGISTRIES:
            _REGISTRIES[opset] = build.__func__(cls, opset)
        return _REGISTRIES[opset]

    ONNXRegistry.from_torchlib = classmethod(built_once)
    try:
        yield
    finally:
        ONNXRegistry.from_torchlib = build


def check_layout(shapes: dict[str, list[int]], specs: list[InputSpec], layout: Layout, batch: int) -> None:
    """Each output's batch axis lies inside its shape, and each state output has its input's shape (at
    the example's batch): what closed-loop evaluation feeds back must fit where it goes."""
    unknown = sorted({*layout.outputs, *layout.state} - set(shapes))
    if unknown:
        raise StageError(f"output_batch_axes/state name outputs {unknown}, which the model does not have (it has "
                         f"{sorted(shapes)}); name those")
    for name, axis in layout.outputs.items():
        if name in shapes and axis is not None and axis >= len(shapes[name]):
            raise StageError(f"output '{name}' has shape {shapes[name]}, no axis {axis}; fix output_batch_axes "
                             f"(0..{len(shapes[name]) - 1}, or null for none)")
    by_name = {spec.name: spec for spec in specs}
    for output, name in layout.state.items():
        want = by_name[name].shape_at(batch) if name in by_name else None
        if output in shapes and want is not None and shapes[output] != want:
            raise StageError(f"state pair {output} -> {name}: output '{output}' has shape {shapes[output]}, input "
                             f"'{name}' takes {want} (at batch {batch}); fix the recipe's state or the input shape")


def rename_outputs(path: Path, names: list[str]) -> None:
    """Give the graph outputs ``names``. Done after export because the exporter names internal values
    after their ops ('embedding', 'linear'): an output called so would clash; such values move aside."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    if len(graph.output) != len(names):
        raise StageError(f"the exported graph has {len(graph.output)} outputs, the model returned {len(names)}")
    renames = {out.name: new for out, new in zip(graph.output, names, strict=True) if out.name != new}
    taken = {v for node in graph.node for v in [*node.input, *node.output]} | {i.name for i in graph.input}
    for clash in (set(renames.values()) & taken) - set(renames):
        renames[clash] = f"{clash}__internal"
    for node in graph.node:
        node.input[:] = [renames.get(v, v) for v in node.input]
        node.output[:] = [renames.get(v, v) for v in node.output]
    for value in [*graph.output, *graph.value_info]:
        value.name = renames.get(value.name, value.name)
    onnx.save(model, str(path))


def _simplify(path: Path) -> bool | str:
    """onnxslim in place; where it cannot complete (it recurses too deep on some attention graphs),
    the exporter's own graph stays and the meta says why."""
    import onnx
    import onnxslim

    try:
        model = onnxslim.slim(onnx.load(str(path)))
    except Exception as exc:  # noqa: BLE001 - onnxslim raises many types (RecursionError too) on graphs it cannot handle
        return f"skipped (onnxslim: {exc.__class__.__name__})"
    onnx.save(model, str(path))
    return True


def check_onnx_file(path: Path) -> None:
    """onnx.checker with full shape inference; a rejected model is a StageError naming the file."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # checker raises ValidationError and protobuf errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StageError(f"onnx.checker rejects {path}: {first}; re-export the model or fix the graph") from exc


def compare_with_torch(model, onnx_path: Path, inputs: dict[str, np.ndarray], fixed: int | None,
                       names: list[str], layout: Layout | None = None) -> dict:
    """Per output: the largest |torch - onnx| and the cosine, on the same real inputs (closed-loop on
    each one's own state where the layout pairs any)."""
    import torch

    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.benchmarking.fidelity import output_fidelity
    from edge_pipeline.modeling.outputs import flatten_outputs

    layout = layout or Layout()
    order = list(inputs)
    count = sample_count(inputs[order[0]], layout.input_axis(order[0]))

    def torch_infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            returned = model(*(torch.from_numpy(np.asarray(feed[name])) for name in order))
        return {name: leaf.numpy() for name, (_, leaf) in zip(names, flatten_outputs(returned), strict=True)}

    expected = run_all(torch_infer, inputs, layout, fixed or count, whole_batches=fixed is not None)
    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        got = run_all(runner.infer, {i.name: inputs[i.name] for i in runner.inputs}, layout, fixed or count,
                      whole_batches=fixed is not None)
    outputs = {}
    for name in names:
        want, have = expected[name], got[name]
        if not np.isfinite(want).all():
            raise StageError(f"PyTorch output '{name}' holds NaN or Inf on the check inputs; fix the model or the data")
        figures = output_fidelity(have, want)
        outputs[name] = {"max_abs_diff": figures.max_abs_diff, "cosine": figures.cosine}
    worst = {"max_abs_diff": max(o["max_abs_diff"] for o in outputs.values()),
             "cosine": min(o["cosine"] for o in outputs.values())}
    return {"samples": count, **worst, "outputs": outputs}


def check_finite_outputs(onnx_path: Path, inputs: dict[str, np.ndarray], checked: int, batch: int = 64,
                         layout: Layout | None = None) -> None:
    """Every calibration sample past the ``checked`` ones the comparison ran must give finite outputs:
    a model that turns some input into NaN or Inf would otherwise pass export and break quantization
    (an infinite range, an assertion deep in the quantizer)."""
    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend

    layout = layout or Layout()
    first = next(iter(inputs))
    count = sample_count(inputs[first], layout.input_axis(first))
    if count <= checked:
        return
    rest = {name: samples(a, checked, count, layout.input_axis(name)) for name, a in inputs.items()}
    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        fixed = fixed_batch(runner.inputs, layout)
        outputs = run_all(runner.infer, {i.name: rest[i.name] for i in runner.inputs}, layout, fixed or batch,
                          whole_batches=fixed is not None)
    for name, value in outputs.items():
        by_sample = np.moveaxis(np.asarray(value, dtype=np.float64), sample_axis(layout.output_axis(name)), 0)
        finite = np.isfinite(by_sample.reshape(len(by_sample), -1)).all(axis=1)
        if not finite.all():
            raise StageError(
                f"exported output '{name}' holds NaN or Inf for calibration sample "
                f"{checked + int(np.argmax(~finite))}; fix the model (or drop the inputs that break it)"
            )


def onnx_output_shapes(onnx_path: Path, layout: Layout | None = None) -> dict[str, tuple[int | None, ...]]:
    """Each graph output's per-sample shape (its batch axis in ``layout`` dropped, axis 0 by default;
    None where a dim is symbolic), read from the graph alone: what a label check needs to know the
    number of classes."""
    import onnx

    layout = layout or Layout()
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    shapes = {}
    for output in graph.output:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in output.type.tensor_type.shape.dim]
        shapes[output.name] = without_axis(dims, layout.output_axis(output.name))
    return shapes


def run_once(onnx_path: Path, data) -> dict:
    """Load the model in ONNX Runtime and run it on ``data`` (an ArrayDataset): every output must be
    finite. What an ONNX file from elsewhere gets instead of the comparison with PyTorch."""
    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend

    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        fixed = fixed_batch(runner.inputs, data.layout)
        if fixed is not None and len(data) < fixed:
            raise StageError(f"{onnx_path.name}: no calibration batch of the model's fixed batch size {fixed}")
        batch = 1 if data.layout.one_at_a_time else fixed or len(data)
        outputs = runner.infer(next(data.feeds(batch, [i.name for i in runner.inputs])))
    bad = [name for name, value in outputs.items() if not np.isfinite(np.asarray(value, dtype=np.float64)).all()]
    if bad:
        raise StageError(f"{onnx_path.name}: outputs {bad} hold NaN or Inf on the calibration data; "
                         "fix the model or the data")
    return {"samples": batch, "outputs": {name: list(np.shape(value)) for name, value in outputs.items()}}
