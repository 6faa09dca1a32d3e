"""An ONNX file exported elsewhere, made into the run's FP32 ONNX: inputs checked against the
recipe, dynamic non-batch dims fixed from it, an old opset converted, dead and constant weights
folded (so INT8 is never larger than FP32), shape inference with a stated fallback, and one run in
ONNX Runtime before it counts. The user's file is only read."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.backends.onnx_graph import ensure_node_names
from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.errors import ConfigError, ModelLoadError, StageError

# What the quantizers and ORT's transformers need; older files are converted up to the run's opset.
MIN_OPSET = 13
_ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 9: "bool", 2: "uint8"}


def ingest_onnx(source: Path, specs: list[InputSpec], config: ExportConfig, out_path: Path) -> dict:
    """Write the prepared model to ``out_path``; return what was done (for the artifact's meta)."""
    import onnx

    model = _load(source)
    done: dict = {"source": str(source), "source_opset": _opset(model)}
    _check_inputs(model, specs, source)
    named = ensure_node_names(model)
    if named:
        done["named_nodes"] = len(named)
    fixed = fix_input_dims(model, specs)
    if fixed:
        done["fixed_dims"] = fixed
    if _opset(model) < config.opset:
        model = _convert(model, config.opset, source)
        done["converted_to_opset"] = config.opset
    model, inference = _infer_shapes(model)
    done["shape_inference"] = inference
    if config.simplify:
        model = _fold(model, done)
    done["subgraph_ops"] = sorted({n.op_type for n in model.graph.node if n.op_type in ("If", "Loop", "Scan")})
    onnx.save(model, str(out_path))
    try:
        onnx.checker.check_model(str(out_path), full_check=False)
    except Exception as exc:  # checker raises ValidationError and protobuf errors
        raise StageError(f"{source}: the prepared model fails onnx.checker: {str(exc).splitlines()[0]}") from exc
    done["outputs"] = [o.name for o in model.graph.output]
    return done


def _load(source: Path):
    import onnx

    if not Path(source).is_file():
        raise ModelLoadError(f"model.onnx {source} does not exist; point it at an .onnx file")
    missing = [path for path in external_data_files(Path(source)) if not path.is_file()]
    if missing:
        raise ModelLoadError(f"model.onnx {source} keeps its weights in {', '.join(p.name for p in missing)}, which "
                             f"is missing from {Path(source).parent}; copy it beside the .onnx file (keep its name)")
    try:
        return onnx.load(str(source))
    except Exception as exc:  # protobuf decode errors, missing external data
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelLoadError(f"model.onnx {source} is not a readable ONNX model ({exc.__class__.__name__}: {first}); "
                             "re-export it or name the right file") from exc


def external_data_files(source: Path) -> list[Path]:
    """The files an ONNX model keeps its weights in (external data), resolved beside it; [] for a
    self-contained model or one that does not read (loading it reports that)."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    try:
        model = onnx.load(str(source), load_external_data=False)
    except Exception:  # noqa: BLE001 - an unreadable file has no external data to list
        return []
    tensors = [tensor for tensor in _all_tensors(model) if uses_external_data(tensor)]
    locations = sorted({ExternalDataInfo(tensor).location for tensor in tensors})
    return [Path(source).parent / location for location in locations]


def _all_tensors(model):
    """Initializers and tensor attributes of every graph, subgraphs (If/Loop bodies) included."""
    graphs, tensors = [model.graph], []
    while graphs:
        graph = graphs.pop()
        tensors += list(graph.initializer)
        for node in graph.node:
            for attribute in node.attribute:
                tensors += ([attribute.t] if attribute.HasField("t") else []) + list(attribute.tensors)
                graphs += ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
    return tensors


def _opset(model) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def graph_inputs(model) -> list:
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def onnx_dtype(graph_input, source: Path) -> str:
    """The recipe dtype name of a graph input; an element type the recipe cannot name is an error."""
    elem_type = graph_input.type.tensor_type.elem_type
    if elem_type not in _ONNX_DTYPES:
        raise ConfigError(f"{Path(source).name}: input '{graph_input.name}' has ONNX element type {elem_type}, which "
                          f"recipes cannot feed (they take {sorted(set(_ONNX_DTYPES.values()))})")
    return _ONNX_DTYPES[elem_type]


def _check_inputs(model, specs: list[InputSpec], source: Path) -> None:
    inputs = {i.name: i for i in graph_inputs(model)}
    if not inputs:
        raise ConfigError(f"model.onnx {source.name}: the model has no inputs (its graph declares none besides its "
                          "weights); quantizing and timing feed a model's inputs: re-export it with its inputs as "
                          "graph inputs")
    unknown = [s.name for s in specs if s.name not in inputs]
    missing = [name for name in inputs if name not in {s.name for s in specs}]
    if unknown or missing:
        raise ConfigError(
            f"model.onnx {source.name} takes inputs {list(inputs)}; the recipe lists {[s.name for s in specs]}"
            f"{f' (unknown: {unknown})' if unknown else ''}{f' (not listed: {missing})' if missing else ''}; "
            "list one entry per graph input under 'inputs'"
        )
    for spec in specs:
        tensor = inputs[spec.name].type.tensor_type
        dtype = _ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type))
        if dtype != spec.dtype:
            raise ConfigError(f"model.onnx input '{spec.name}' is {dtype}, the recipe says {spec.dtype}; fix its dtype")
        rank = len(tensor.shape.dim)
        if rank and rank != len(spec.shape):
            raise ConfigError(f"model.onnx input '{spec.name}' has rank {rank}, the recipe's shape {spec.shape} has "
                              f"rank {len(spec.shape)}; fix its shape")


def fix_input_dims(model, specs: list[InputSpec]) -> dict[str, list]:
    """Set each dynamic non-batch dim (not declared in ``dynamic_axes``) to the recipe's size; a
    fixed dim that disagrees with the recipe is an error naming the input."""
    by_name = {s.name: s for s in specs}
    fixed: dict[str, list] = {}
    for graph_input in graph_inputs(model):
        spec = by_name[graph_input.name]
        for axis, dim in enumerate(graph_input.type.tensor_type.shape.dim):
            want = spec.shape[axis]
            if axis == spec.batch_axis and spec.dynamic_batch:
                if dim.HasField("dim_value"):
                    dim.ClearField("dim_value")
                dim.dim_param = "batch"
            elif axis in spec.dynamic_axes:
                dim.dim_param = spec.dynamic_axes[axis]
            elif dim.HasField("dim_value") and dim.dim_value > 0:
                if dim.dim_value != want:
                    raise ConfigError(f"model.onnx input '{spec.name}' has size {dim.dim_value} on axis {axis}, the "
                                      f"recipe's shape {spec.shape} says {want}; fix the shape")
            else:
                fixed.setdefault(spec.name, []).append({"axis": axis, "was": dim.dim_param or "?", "now": want})
                dim.dim_value = want
    return fixed


def _convert(model, opset: int, source: Path):
    """The model at ``opset``. The version converter only sees values that are graph inputs or
    node outputs: a model at IR < 4 (where initializers were also listed as inputs, and exporters
    often did not) fails with "W in initializer but not in graph input" / "Input W is undefined".
    So initializers are listed as inputs for the conversion, then unlisted again (listed, a
    runtime would let a feed override the weights), and the IR version raised to the opset's."""
    from onnx import helper, version_converter

    listed = {i.name for i in model.graph.input}
    added = [init.name for init in model.graph.initializer if init.name not in listed]
    for init in model.graph.initializer:
        if init.name in added:
            model.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    try:
        converted = version_converter.convert_version(model, opset)
    except Exception as exc:  # the converter raises RuntimeError for adapters it lacks
        raise StageError(f"model.onnx {source.name} is at opset {_opset(model)} and cannot be converted to {opset} "
                         f"({str(exc).splitlines()[0]}); re-export it at opset {opset}") from exc
    kept = [i for i in converted.graph.input if i.name not in set(added)]
    del converted.graph.input[:]
    converted.graph.input.extend(kept)
    converted.ir_version = max(converted.ir_version, helper.find_min_ir_version_for(list(converted.opset_import)))
    return converted


def _infer_shapes(model) -> tuple[object, str]:
    """Full shape inference, or the model unchanged with the reason: later steps then work with
    the shapes the file carries instead of crashing."""
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True), "complete"
    except Exception as exc:  # noqa: BLE001 - inference raises InferenceError and others on partial graphs
        return model, f"incomplete ({exc.__class__.__name__}: {str(exc).splitlines()[0][:160]}); shapes as stored"


def _fold(model, done: dict):
    """Constant folding and dead-code removal: weights stored as Constant nodes become initializers,
    unused ones go."""
    import onnxslim

    before = model.ByteSize()
    try:
        model = onnxslim.slim(model)
    except Exception as exc:  # noqa: BLE001 - onnxslim raises many types; the model stays as it is
        done["fold"] = f"skipped ({exc.__class__.__name__})"
        return model
    done["fold"] = {"bytes_before": before, "bytes_after": model.ByteSize()}
    return model
