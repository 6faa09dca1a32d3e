"""What init reads from a user's model: its inputs (from the flags or an ONNX graph), its
outputs (one forward pass of a factory, or the graph), and the names a recipe gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.config.arguments import int_list
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.errors import ConfigError, ModelLoadError

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


# ---- command-line values --------------------------------------------------------------------------


def parse_named(text: str, flag: str, example: str) -> tuple[str | None, str]:
    """``name=value`` -> (name, value); a bare ``value`` -> (None, value)."""
    name, sep, value = text.partition("=")
    if not sep:
        return None, text
    if not name or not value:
        raise ConfigError(f"{flag} '{text}' is not [NAME=]VALUE; write e.g. {flag} {example}")
    return name, value


def parse_shapes(texts: list[str]) -> dict[str | None, list[int]]:
    """``--input-shape`` values: ``1,3,224,224`` (the one input) or ``name=1,16`` per input."""
    shapes: dict[str | None, list[int]] = {}
    for text in texts:
        name, dims = parse_named(text, "--input-shape", "1,3,224,224 or input_ids=1,128")
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
    outputs = _forward_outputs(reference, specs)
    function = reference.rpartition(":")[2]
    return ModelFacts(name=safe_name(function), source={"factory": reference}, inputs=specs, outputs=outputs,
                      declare_outputs=True)


def _input_spec(name: str, shape: list[int], dtype: str) -> InputSpec:
    try:
        return InputSpec(name=name, shape=shape, dtype=dtype)  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic's ValidationError: keep its first message
        raise ConfigError(f"input '{name}' {shape} {dtype}: {first_error(exc)}") from exc


def _forward_outputs(reference: str, specs: list[InputSpec]) -> list[tuple[str, list]]:
    import torch

    from edge_pipeline.config.schema import ModelSpec
    from edge_pipeline.modeling.loading import load_torch_model
    from edge_pipeline.modeling.onnx_export import example_tensors
    from edge_pipeline.modeling.outputs import flatten_outputs, output_names

    model = load_torch_model(ModelSpec(factory=reference))
    shown = ", ".join(f"{s.name} {s.shape} {s.dtype}" for s in specs)
    try:
        with torch.no_grad():
            value = model(*example_tensors(specs, specs[0].shape[0]))
    except Exception as exc:  # the user's forward() failing in any way is the shape or dtype given
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(f"factory '{reference}' failed a forward pass on {shown} ({exc.__class__.__name__}: "
                             f"{detail}); fix --input-shape / --input-dtype (one per forward() argument)") from exc
    tensors = [tensor for _, tensor in flatten_outputs(value)]
    return [(name, list(tensor.shape)) for name, tensor in zip(output_names(value, None), tensors, strict=True)]


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
    unknown = sorted(set(shapes) - {i.name for i in inputs})
    if unknown:
        raise ConfigError(f"--input-shape names {unknown}, which {path.name} does not take; its inputs are "
                          f"{[i.name for i in inputs]}")
    facts = ModelFacts(name=safe_name(path.stem), source={"onnx": path.name}, inputs=[], outputs=[],
                       declare_outputs=False)
    for graph_input in inputs:
        spec, confirm = _onnx_input(graph_input, onnx_dtype(graph_input, path), shapes.get(graph_input.name))
        facts.inputs.append(spec)
        if confirm:
            facts.confirm[spec.name] = confirm
    facts.outputs = [(o.name, _dims(o)) for o in model.graph.output]
    return facts


def _dims(value_info) -> list:
    """Per axis: the size, the dim's name where it is symbolic, or '?' where it has neither."""
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _onnx_input(graph_input, dtype: str, given: list[int] | None) -> tuple[InputSpec, list[str]]:
    dims = _dims(graph_input)
    if given is not None and len(given) != len(dims):
        raise ConfigError(f"--input-shape {graph_input.name} has {len(given)} dims; the input has rank {len(dims)}")
    if not dims:
        raise ConfigError(f"input '{graph_input.name}' has no declared rank; give it with --input-shape "
                          f"{graph_input.name}=DIMS")
    shape, axes, confirm = [], {}, []
    for axis, dim in enumerate(dims):
        if isinstance(dim, int):
            shape.append(given[axis] if given else dim)
            continue
        size = given[axis] if given else (1 if axis == 0 else _guess(axis, len(dims)))
        shape.append(size)
        if axis == 0:
            continue  # a dynamic batch is the recipe's dynamic_batch
        axes[axis] = dim if dim != "?" else f"dim{axis}"
        if not given:
            confirm.append(f"CONFIRM: axis {axis} ('{axes[axis]}') is dynamic in the file; {size} is a guess: "
                           "set the size you deploy (calibration samples have it)")
    spec = _input_spec(graph_input.name, shape, dtype)
    return spec.model_copy(update={"dynamic_batch": not isinstance(dims[0], int), "dynamic_axes": axes}), confirm


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
