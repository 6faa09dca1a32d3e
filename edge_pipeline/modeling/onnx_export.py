"""PyTorch -> ONNX with the dynamo exporter, checked by onnx.checker and against PyTorch numerically."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import StageError
from edge_pipeline.logs import quiet_logger


def export_onnx(model, specs: InputSpec | list[InputSpec], config: ExportConfig, out_path: Path,
                check_inputs: np.ndarray | dict[str, np.ndarray], declared_outputs: list[str] | None = None) -> dict:
    """Write ``out_path`` and return what the checks measured. Raises StageError on any failure.

    ``specs`` lists the inputs in forward() order (one spec for a one-input model) and
    ``check_inputs`` holds real samples by input name (a bare array for a one-input model).
    """
    specs = [specs] if isinstance(specs, InputSpec) else list(specs)
    if isinstance(check_inputs, np.ndarray):
        check_inputs = {specs[0].name: check_inputs}
    dynamic = specs[0].dynamic_batch if config.dynamic_batch is None else config.dynamic_batch
    names = _torch_export(model, specs, config.opset, dynamic, out_path, declared_outputs)
    simplified = _simplify(out_path) if config.simplify else False
    check_onnx_file(out_path)
    fixed_batch = None if dynamic else specs[0].shape[0]
    sample = {name: values[: config.check_samples] for name, values in check_inputs.items()}
    numeric = compare_with_torch(model, out_path, sample, fixed_batch, names)
    check_finite_outputs(out_path, check_inputs, config.check_samples)
    for name, figures in numeric["outputs"].items():
        if not figures["max_abs_diff"] <= config.max_abs_diff or not figures["cosine"] >= config.min_cosine:
            raise StageError(
                f"exported ONNX output '{name}' differs from PyTorch: max |diff| {figures['max_abs_diff']:.3g} "
                f"(allowed {config.max_abs_diff:g}), cosine {figures['cosine']:.6f} (needs >= {config.min_cosine}); "
                "check the model for export-unsafe ops, or relax export.max_abs_diff / export.min_cosine"
            )
    return {"opset": config.opset, "dynamic_batch": dynamic, "simplified": simplified, "outputs": names,
            "numeric_check": numeric}


def example_tensors(specs: list[InputSpec], batch: int) -> tuple:
    """One tensor per input: zeros for floats, ones for integers and booleans (a valid token id, a
    mask that keeps every position)."""
    import torch

    tensors = []
    for spec in specs:
        dtype = getattr(torch, spec.dtype)
        fill = torch.zeros if dtype.is_floating_point else torch.ones
        tensors.append(fill([batch, *spec.shape[1:]], dtype=dtype))
    return tuple(tensors)


def _dynamic_shapes(specs: list[InputSpec], dynamic: bool) -> tuple | None:
    """Named dims shared across inputs (ids and mask share 'sequence'); the batch is dim 0 of each."""
    import torch

    dims: dict[str, object] = {}

    def dim(name: str):
        return dims.setdefault(name, torch.export.Dim(name, min=1, max=4096))

    shapes = []
    for spec in specs:
        axes = {axis: dim(name) for axis, name in spec.dynamic_axes.items()}
        if dynamic:
            axes[0] = dim("batch")
        shapes.append(axes or None)
    return tuple(shapes) if any(shapes) else None


def _torch_export(model, specs: list[InputSpec], opset: int, dynamic: bool, out_path: Path,
                  declared_outputs: list[str] | None) -> list[str]:
    import torch

    from edge_pipeline.modeling.outputs import output_names

    # A batch of 2 in the example keeps torch.export from specialising a dynamic batch to 1.
    example = example_tensors(specs, 2 if dynamic else specs[0].shape[0])
    with torch.no_grad():
        names = output_names(model(*example), declared_outputs)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), quiet_logger("torch.onnx", logging.ERROR):
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


def compare_with_torch(model, onnx_path: Path, inputs: dict[str, np.ndarray], fixed_batch: int | None,
                       names: list[str]) -> dict:
    """Per output: the largest |torch - onnx| and the cosine, on the same real inputs."""
    import torch

    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.benchmarking.fidelity import output_fidelity
    from edge_pipeline.modeling.outputs import flatten_outputs

    count = len(next(iter(inputs.values())))
    step = fixed_batch or count
    starts = range(0, count - step + 1, step)
    with torch.no_grad():
        expected = [[leaf.numpy() for _, leaf in flatten_outputs(model(*(torch.from_numpy(a[i : i + step])
                                                                          for a in inputs.values())))]
                    for i in starts]
    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        feeds = [{spec.name: inputs[spec.name][i : i + step] for spec in runner.inputs} for i in starts]
        got = [runner.infer(feed) for feed in feeds]
    outputs = {}
    for index, name in enumerate(names):
        want = np.concatenate([batch[index] for batch in expected])
        have = np.concatenate([batch[name] for batch in got])
        if not np.isfinite(want).all():
            raise StageError(f"PyTorch output '{name}' holds NaN or Inf on the check inputs; fix the model or the data")
        figures = output_fidelity(have, want)
        outputs[name] = {"max_abs_diff": figures.max_abs_diff, "cosine": figures.cosine}
    worst = {"max_abs_diff": max(o["max_abs_diff"] for o in outputs.values()),
             "cosine": min(o["cosine"] for o in outputs.values())}
    return {"samples": count, **worst, "outputs": outputs}


def check_finite_outputs(onnx_path: Path, inputs: dict[str, np.ndarray], checked: int, batch: int = 64) -> None:
    """Every calibration sample past the ``checked`` ones the comparison ran must give finite outputs:
    a model that turns some input into NaN or Inf would otherwise pass export and break quantization
    (an infinite range, an assertion deep in the quantizer)."""
    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend

    count = len(next(iter(inputs.values())))
    if count <= checked:
        return
    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        fixed = runner.fixed_batch()
        step = fixed or batch
        last = count - step + 1 if fixed else count  # a fixed batch cannot take the short tail
        for start in range(checked, last, step):
            feed = {i.name: inputs[i.name][start : start + step] for i in runner.inputs}
            rows = len(next(iter(feed.values())))
            for name, value in runner.infer(feed).items():
                finite = np.isfinite(np.asarray(value, dtype=np.float64)).reshape(rows, -1).all(axis=1)
                if not finite.all():
                    raise StageError(
                        f"exported output '{name}' holds NaN or Inf for calibration sample "
                        f"{start + int(np.argmax(~finite))}; fix the model (or drop the inputs that break it)"
                    )


def onnx_output_shapes(onnx_path: Path) -> dict[str, tuple[int | None, ...]]:
    """Each graph output's per-sample shape (batch dropped; None where a dim is symbolic), read from the
    graph alone: what a label check needs to know the number of classes."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    shapes = {}
    for output in graph.output:
        dims = output.type.tensor_type.shape.dim
        shapes[output.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims[1:])
    return shapes


def run_once(onnx_path: Path, data) -> dict:
    """Load the model in ONNX Runtime and run it on ``data`` (an ArrayDataset): every output must be
    finite. What an ONNX file from elsewhere gets instead of the comparison with PyTorch."""
    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend

    with get_backend("onnxruntime").runner(onnx_path, RunnerOptions(threads=2)) as runner:
        batch = runner.fixed_batch() or len(data)
        feeds = [f for f in data.feeds(batch, [i.name for i in runner.inputs]) if len(next(iter(f.values()))) == batch]
        if not feeds:
            raise StageError(f"{onnx_path.name}: no calibration batch of the model's fixed batch size {batch}")
        outputs = runner.infer(feeds[0])
    bad = [name for name, value in outputs.items() if not np.isfinite(np.asarray(value, dtype=np.float64)).all()]
    if bad:
        raise StageError(f"{onnx_path.name}: outputs {bad} hold NaN or Inf on the calibration data; "
                         "fix the model or the data")
    return {"samples": batch, "outputs": {name: list(np.shape(value)) for name, value in outputs.items()}}
