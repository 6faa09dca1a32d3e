"""What init reads from a user's model: its inputs (from the flags or an ONNX graph), its
outputs (one forward pass of a factory, or the graph), and the names a recipe gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from edge_pipeline.config.arguments import int_list
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.errors import ConfigError, ModelLoadError
from edge_pipeline.scaffold.probe import batch_axes, state_pairs

IMAGE_SIDE_GUESS = 224  # a dynamic H or W of an image input (rank 4)
OTHER_DIM_GUESS = 16  # any other dynamic non-batch dim (a sequence length, a channel count)


@dataclass
class ModelFacts:
    """What init learned from the model: enough to write the recipe and the calibration stub."""

    name: str  # model.name and metadata.name
    source: dict  # the recipe's model section without 'name'
    inputs: list[InputSpec]
    outputs: list[tuple[str, list]]  # (name, shape as read: an int or a dim name per axis)
    declare_outputs: bool  # a factory's outputs are named in the recipe; an ONNX file names its own
    confirm: dict[str, list[str]] = field(default_factory=dict)  # input name -> CONFIRM lines
    output_batch_axes: dict[str, int | None] = field(default_factory=dict)  # outputs batched on another axis than 0
    state: dict[str, str] = field(default_factory=dict)  # suggested state pairs {output: input}, to CONFIRM


# ---- command-line values --------------------------------------------------------------------------


def parse_named(text: str, flag: str, example: str, empty: bool = False) -> tuple[str | None, str]:
    """``name=value`` -> (name, value); a bare ``value`` -> (None, value); ``empty``: ``name=`` is allowed."""
    name, sep, value = text.partition("=")
    if not sep:
        return None, text
    if not name or (not value and not empty):
        raise ConfigError(f"{flag} '{text}' is not [NAME=]VALUE; write e.g. {flag} {example}")
    return name, value


def parse_shapes(texts: list[str]) -> dict[str | None, list[int]]:
    """``--input-shape`` values: ``1,3,224,224`` (the one input), ``name=1,16`` per input, or ``name=`` for a
    scalar (a sample rate)."""
    shapes: dict[str | None, list[int]] = {}
    for text in texts:
        name, dims = parse_named(text, "--input-shape", "1,3,224,224 or input_ids=1,128 (sr= for a scalar)",
                                 empty=True)
        if name is not None and not dims.strip():
            shapes[name] = []
            continue
        try:
            shapes[name] = int_list(dims.replace("x", ","))
        except Exception as exc:  # argparse.ArgumentTypeError: one message, re-raised as ours
            raise ConfigError(f"--input-shape '{text}': {exc}") from exc
    if None in shapes and len(texts) > 1:
        raise ConfigError("several --input-shape values need a name each, e.g. --input-shape input_ids=1,128")
    return shapes


def parse_dtypes(texts: list[str]) -> dict[str | None, str]:
    """``--input-dtype`` values: ``int64`` (every input) or ``name=int64``."""
    return dict(parse_named(text, "--input-dtype", "int64 or input_ids=int64") for text in texts)


# ---- what the model says --------------------------------------------------------------------------


def factory_facts(reference: str, shapes: dict[str | None, list[int]], dtypes: dict[str | None, str],
                  input_name: str) -> ModelFacts:
    """Build the factory's model and run it once to read its outputs."""
    if not shapes:
        raise ConfigError("--factory needs --input-shape (batch first, e.g. --input-shape 1,3,224,224)")
    names = [input_name] if None in shapes else list(shapes)
    unknown = sorted(set(dtypes) - {None, *names})
    if unknown:
        raise ConfigError(f"--input-dtype names {unknown}, which --input-shape does not; the inputs are {names}")
    specs = [_input_spec(name, shapes[None] if None in shapes else shapes[name],
                         dtypes.get(name, dtypes.get(None, "float32"))) for name in names]
    model = _factory_model(reference)
    outputs, vocabularies = _forward_outputs(model, reference, specs)
    specs = [spec.model_copy(update={"value_range": (0.0, float(vocabularies[spec.name]))})
             if spec.name in vocabularies else spec for spec in specs]
    specs, output_axes = batch_axes(partial(_output_shapes, model), specs, outputs)
    function = reference.rpartition(":")[2]
    confirm = {spec.name: [f"CONFIRM: batch on axis {spec.batch_axis} (the dim that grew with the batch in a "
                           "second forward pass)"] for spec in specs if spec.shape and spec.batch_axis != 0}
    return ModelFacts(name=safe_name(function), source={"factory": reference}, inputs=specs, outputs=outputs,
                      declare_outputs=True, confirm=confirm, output_batch_axes=output_axes,
                      state=state_pairs(specs, outputs))


def _input_spec(name: str, shape: list[int], dtype: str, batch_axis: int = 0) -> InputSpec:
    try:
        if not shape:  # a scalar: no batch axis
            return InputSpec(name=name, shape=shape, dtype=dtype)  # type: ignore[arg-type]
        return InputSpec(name=name, shape=shape, dtype=dtype, batch_axis=batch_axis)  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic's ValidationError: keep its first message
        raise ConfigError(f"input '{name}' {shape} {dtype}: {first_error(exc)}") from exc


def _factory_model(reference: str):
    from edge_pipeline.config.schema import ModelSpec
    from edge_pipeline.modeling.loading import load_torch_model

    return load_torch_model(ModelSpec(factory=reference))


def _output_shapes(model, specs: list[InputSpec], batch: int) -> list[tuple[str, list]] | None:
    """The outputs (name, shape) of a forward pass at ``batch`` on each input's batch axis; None where the
    model refuses that feed (a fixed batch, or a batch put on the wrong axis)."""
    import torch

    from edge_pipeline.modeling.onnx_export import example_tensors
    from edge_pipeline.modeling.outputs import flatten_outputs, output_names

    try:
        with torch.no_grad():
            value = model(*example_tensors(specs, batch))
    except Exception:  # noqa: BLE001 - any failure of the user's forward() means: not this batch placement
        return None
    tensors = [tensor for _, tensor in flatten_outputs(value)]
    return [(name, list(tensor.shape)) for name, tensor in zip(output_names(value, None), tensors, strict=True)]


def _forward_outputs(model, reference: str, specs: list[InputSpec]) -> tuple[list[tuple[str, list]], dict[str, int]]:
    """The outputs (name, shape) of one forward pass, and the vocabulary size of each integer input an
    nn.Embedding takes directly (its value_range)."""
    import torch

    from edge_pipeline.modeling.onnx_export import example_tensors
    from edge_pipeline.modeling.outputs import flatten_outputs, output_names

    shown = ", ".join(f"{s.name} {s.shape} {s.dtype}" for s in specs)
    # The shapes as given: where each input's batch sits is not known yet (batch_axes finds it).
    example = example_tensors([spec.model_copy(update={"batch_axis": None}) for spec in specs], 1)
    vocabularies: dict[str, int] = {}

    def seen(module, args):
        for spec, tensor in zip(specs, example, strict=True):
            if args and args[0] is tensor and not tensor.dtype.is_floating_point:
                vocabularies[spec.name] = min(vocabularies.get(spec.name, module.num_embeddings),
                                              module.num_embeddings)

    hooks = [m.register_forward_pre_hook(seen) for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    try:
        with torch.no_grad():
            value = model(*example)
    except Exception as exc:  # the user's forward() failing in any way is the shape or dtype given
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(f"factory '{reference}' failed a forward pass on {shown} ({exc.__class__.__name__}: "
                             f"{detail}); fix --input-shape / --input-dtype (one per forward() argument)") from exc
    finally:
        for hook in hooks:
            hook.remove()
    tensors = [tensor for _, tensor in flatten_outputs(value)]
    outputs = [(name, list(tensor.shape)) for name, tensor in zip(output_names(value, None), tensors, strict=True)]
    return outputs, vocabularies


def onnx_facts(path: Path, shapes: dict[str | None, list[int]]) -> ModelFacts:
    """Inputs and outputs read from the graph; dynamic dims become named axes with a guessed size."""
    import onnx

    from edge_pipeline.modeling.onnx_source import graph_inputs, onnx_dtype

    if not path.is_file():
        raise ConfigError(f"--onnx {path} does not exist; name an .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors
        raise ConfigError(f"--onnx {path} is not a readable ONNX model ({exc.__class__.__name__}); "
                          "re-export it") from exc
    if None in shapes:
        raise ConfigError("with --onnx, name the input: --input-shape NAME=DIMS (the graph names its inputs)")
    inputs = graph_inputs(model)
    if not inputs:
        raise ConfigError(f"--onnx {path}: the model has no inputs (its graph declares none besides its weights); "
                          "quantizing and timing feed a model's inputs: re-export it with its inputs as graph inputs")
    unknown = sorted(set(shapes) - {i.name for i in inputs})
    if unknown:
        raise ConfigError(f"--input-shape names {unknown}, which {path.name} does not take; its inputs are "
                          f"{[i.name for i in inputs]}")
    facts = ModelFacts(name=safe_name(path.stem), source={"onnx": path.name}, inputs=[], outputs=[],
                       declare_outputs=False)
    batch = _batch_dim_name(inputs)
    vocabularies = _gathered_vocabularies(model)
    for graph_input in inputs:
        spec, confirm = _onnx_input(graph_input, onnx_dtype(graph_input, path), shapes.get(graph_input.name), batch)
        if graph_input.name in vocabularies and spec.dtype in ("int64", "int32"):
            spec = spec.model_copy(update={"value_range": (0.0, float(vocabularies[graph_input.name]))})
        facts.inputs.append(spec)
        if confirm:
            facts.confirm[spec.name] = confirm
    facts.outputs = [(o.name, _dims(o)) for o in model.graph.output]
    # An output carrying the batch dim's name on another axis (a CTC head's [T, batch, C]) is batched there.
    facts.output_batch_axes = {name: dims.index(batch) for name, dims in facts.outputs
                               if batch is not None and batch in dims and dims.index(batch) != 0}
    return facts


def _dims(value_info) -> list:
    """Per axis: the size, the dim's name where it is symbolic, or '?' where it has neither."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _batch_dim_name(inputs) -> str | None:
    """The symbolic batch dim: the name on axis 0 of the first input that has a named axis 0."""
    for graph_input in inputs:
        dims = _dims(graph_input)
        if dims and isinstance(dims[0], str) and dims[0] != "?":
            return dims[0]
    return None


def _gathered_vocabularies(model) -> dict[str, int]:
    """Integer inputs that index a table directly (a Gather on an initializer: an embedding), with the
    table's row count: the ids' value_range."""
    tables = {t.name: t.dims[0] for t in model.graph.initializer if len(t.dims) >= 1}
    found: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Gather" and len(node.input) >= 2 and node.input[0] in tables:
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            if axis == 0:
                found[node.input[1]] = min(found.get(node.input[1], tables[node.input[0]]), tables[node.input[0]])
    return found


def _onnx_input(graph_input, dtype: str, given: list[int] | None,
                batch: str | None = None) -> tuple[InputSpec, list[str]]:
    dims = _dims(graph_input)
    if given is not None and len(given) != len(dims):
        raise ConfigError(f"--input-shape {graph_input.name} has {len(given)} dims; the input has rank {len(dims)}")
    if not dims:
        if graph_input.type.tensor_type.HasField("shape"):  # rank 0: a scalar (a sample rate)
            return _input_spec(graph_input.name, [], dtype), []
        raise ConfigError(f"input '{graph_input.name}' has no declared rank; give it with --input-shape "
                          f"{graph_input.name}=DIMS")
    # The batch sits where the file names the batch dim (an RNN state's [layers, batch, hidden]), else axis 0.
    batch_axis = next((axis for axis, dim in enumerate(dims) if batch is not None and dim == batch), 0)
    shape, axes, confirm = [], {}, []
    for axis, dim in enumerate(dims):
        if isinstance(dim, int):
            shape.append(given[axis] if given else dim)
            continue
        size = given[axis] if given else (1 if axis == batch_axis else _guess(axis, len(dims)))
        shape.append(size)
        if axis == batch_axis or given:
            continue  # a dynamic batch is the recipe's dynamic_batch; a size given on the command line is pinned
        axes[axis] = dim if dim != "?" else f"dim{axis}"
        confirm.append(f"CONFIRM: axis {axis} ('{axes[axis]}') is dynamic in the file; {size} is a guess: "
                       "set the size you deploy (calibration samples have it)")
    spec = _input_spec(graph_input.name, shape, dtype, batch_axis)
    return spec.model_copy(update={"dynamic_batch": not isinstance(dims[batch_axis], int),
                                   "dynamic_axes": axes}), confirm


def _guess(axis: int, rank: int) -> int:
    return IMAGE_SIDE_GUESS if rank == 4 and axis >= 2 else OTHER_DIM_GUESS


def safe_name(text: str) -> str:
    """A model.name from a function name or file stem (letters, digits, '.', '_', '-')."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in text).strip("._-")
    return cleaned[:64] or "model"


def first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc).splitlines()[0]
