"""`edge-pipeline init`: a starter recipe for a user's own model, written from the model itself.

A factory is built and run once on zeros (ones for integer inputs: a valid token id, a full mask)
to read its outputs; an ONNX file's inputs (names, dtypes, dims) and outputs are read from the
graph, and each dynamic dimension becomes a named axis with a guessed size the recipe marks
CONFIRM. Beside the recipe goes a calibration stub: a small .npz of random numbers of the right
shapes and dtypes, marked REPLACE in the recipe (a file rather than a provider stub, so the first
run needs no code of the user's beyond the model). Targets are those whose backend imports on
this machine. Nothing is written if any of the files exists already.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from edge_pipeline.config.arguments import int_list
from edge_pipeline.config.schema import InputSpec, Recipe
from edge_pipeline.errors import ConfigError, EdgePipelineError, ModelLoadError, OutputError

STUB_SAMPLES = 32  # enough for the first run's calibration and fidelity check; real sets want 128-512
IMAGE_SIDE_GUESS = 224  # a dynamic H or W of an image input (rank 4)
OTHER_DIM_GUESS = 16  # any other dynamic non-batch dim (a sequence length, a channel count)
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass
class ModelFacts:
    """What init learned from the model: enough to write the recipe and the calibration stub."""

    name: str  # model.name and metadata.name
    source: dict  # the recipe's model section without 'name'
    inputs: list[InputSpec]
    outputs: list[tuple[str, list]]  # (name, shape as read: an int or a dim name per axis)
    declare_outputs: bool  # a factory's outputs are named in the recipe; an ONNX file names its own
    confirm: dict[str, list[str]] = field(default_factory=dict)  # input name -> CONFIRM lines


@dataclass
class Written:
    recipe: Path
    calibration: Path
    targets: list[str]


def init_recipe(out: Path, factory: str | None = None, onnx: Path | None = None, shapes: list[str] | None = None,
                dtypes: list[str] | None = None, input_name: str | None = None) -> Written:
    """Read the model (a factory or an ONNX file), then write ``out`` and its calibration stub."""
    out = Path(out)
    refuse_existing(out)  # before building the model: a refusal should not wait for it
    parsed_shapes = parse_shapes(shapes or [])
    if onnx is not None:
        if dtypes or input_name:
            raise ConfigError("--input-dtype and --input-name go with --factory; an ONNX file names its inputs "
                              "and their dtypes")
        facts = onnx_facts(Path(onnx), parsed_shapes)
        facts.source = {"onnx": _relative_path(Path(onnx), out.parent)}
    elif factory is not None:
        facts = factory_facts(factory, parsed_shapes, parse_dtypes(dtypes or []), input_name or "input")
        facts.source = {"factory": relative_reference(factory, out.parent)}
    else:
        raise ConfigError("name the model: --factory 'file.py:function' or --onnx model.onnx")
    usable = runnable_targets()
    chosen = first_per_backend(usable)
    return write_starter(facts, out, chosen, [t for t in usable if t not in chosen])


def calibration_path(recipe_path: Path) -> Path:
    return recipe_path.with_name(f"{recipe_path.stem}.calibration.npz")


def refuse_existing(recipe_path: Path) -> None:
    existing = [str(p) for p in (recipe_path, calibration_path(recipe_path)) if p.exists() or p.is_symlink()]
    if existing:
        raise OutputError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; init never "
                          "overwrites: pass another --out or move the file away")


def _relative_path(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


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
        raise ConfigError(f"input '{name}' {shape} {dtype}: {_first_error(exc)}") from exc


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


# ---- where it runs --------------------------------------------------------------------------------


def runnable_targets() -> list[str]:
    """Target profiles for this machine's CPU architecture whose backend makes artifacts here."""
    from edge_pipeline.backends.registry import probe
    from edge_pipeline.config.recipes import available_targets, load_target

    arch = _ARCH.get(platform.machine().lower())
    works: dict[str, bool] = {}
    usable = []
    for name in available_targets():
        try:
            profile = load_target(name)
            if profile.backend not in works:
                works[profile.backend] = probe(profile.backend)[0]
        except EdgePipelineError:
            continue  # a profile that does not load, or an unregistered backend, is nothing to suggest
        if profile.device.kind == "cpu" and profile.device.arch == arch and works[profile.backend]:
            usable.append(name)
    return usable


def first_per_backend(targets: list[str]) -> list[str]:
    """One target per backend for the first run (names sort the plain profile before its variants)."""
    from edge_pipeline.config.recipes import load_target

    chosen: dict[str, str] = {}
    for name in sorted(targets):
        chosen.setdefault(load_target(name).backend, name)
    return sorted(chosen.values())


# ---- the files ------------------------------------------------------------------------------------


def write_starter(facts: ModelFacts, recipe_path: Path, targets: list[str], others: list[str] | None = None) -> Written:
    """Write the recipe and its calibration stub; refuses (OutputError) if either exists."""
    if not targets:
        raise ConfigError("no backend makes artifacts on this machine; install one: pip install "
                          "'edge-pipeline[onnxruntime]' (edge-pipeline doctor says what is missing)")
    refuse_existing(recipe_path)
    calibration = calibration_path(recipe_path)
    text = recipe_text(facts, calibration.name, targets, others)
    _check_loads(text, recipe_path)
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    _write_new(calibration, lambda handle: np.savez(handle, **stub_arrays(facts.inputs)))
    try:
        _write_new(recipe_path, lambda handle: handle.write(text.encode()))
    except BaseException:
        calibration.unlink(missing_ok=True)  # a recipe that could not be written leaves no stub behind
        raise
    return Written(recipe_path, calibration, targets)


def _write_new(path: Path, write) -> None:
    """Create ``path`` exclusively: a file that appeared since the check is refused, not replaced."""
    try:
        with open(path, "xb") as handle:
            write(handle)
    except FileExistsError as exc:
        raise OutputError(f"{path} already exists; init never overwrites: pass another --out") from exc
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({exc.strerror or exc}); choose a writable --out") from exc


def _check_loads(text: str, recipe_path: Path) -> None:
    """The recipe must validate before anything is written: a failure here is init's bug, said plainly."""
    try:
        Recipe.model_validate(yaml.safe_load(text))
    except ValueError as exc:
        raise ConfigError(f"the starter recipe for {recipe_path} does not validate ({_first_error(exc)}); "
                          "please report this") from exc


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc).splitlines()[0]


def stub_arrays(specs: list[InputSpec], samples: int = STUB_SAMPLES, seed: int = 0) -> dict[str, np.ndarray]:
    """Random samples of each input's per-sample shape and dtype (one array per input name)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for spec in specs:
        shape = (samples, *spec.shape[1:])
        if spec.dtype in ("float32", "float16"):
            arrays[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        elif spec.dtype == "bool":
            arrays[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:  # ids in [0, 2): inside any embedding, and a valid 0/1 mask
            low, high = spec.value_range or (0, 2)
            arrays[spec.name] = rng.integers(int(low), int(high), shape).astype(spec.dtype)
    return arrays


def recipe_text(facts: ModelFacts, calibration_name: str, targets: list[str], others: list[str] | None = None) -> str:
    """The recipe as commented YAML; values are dumped by PyYAML (quoting stays right), comments added here."""
    lines = [
        f"# A starter recipe for '{facts.name}', written by `edge-pipeline init`. Check each CONFIRM and",
        "# REPLACE below, then run:  edge-pipeline run THIS_FILE --out bundle",
        "# Every key is checked: an unknown or misspelt key is an error naming it. Paths are relative to",
        "# this file.",
        "",
        "metadata: " + _flow({"name": facts.name}),
        "",
        "# The model. 'name' names its artifacts (artifacts/<name>/...) and its rows in the reports.",
        "model:",
        f"  name: {_flow(facts.name)}",
        *_source_lines(facts.source),
        "",
        "# The model's inputs in forward() order, batch first. dynamic_batch exports the batch dimension as",
        "# dynamic; dynamic_axes names other dynamic dimensions; integer inputs (token ids) take",
        "# value_range: [low, high) so synthetic feeds stay inside the embedding.",
        "inputs:",
        *_input_lines(facts),
        "",
        *_output_lines(facts),
        "data:",
        f"  # REPLACE: {calibration_name} holds {STUB_SAMPLES} samples of RANDOM numbers (the right shapes and",
        "  # dtypes) so that the first run works. Calibration sets the INT8 ranges and checks the export:",
        "  # save 128-512 real, preprocessed samples instead, one array per input name:",
        "  #   np.savez('calibration.npz', " + ", ".join(f"{s.name}=..." for s in facts.inputs) + ")",
        "  # or name a function returning {input name: (N, ...) array}:  calibration: {provider: 'mydata:calibration'}",
        "  calibration: " + _flow({"path": calibration_name}),
        "  # Labelled held-out samples (labels under 'y') add accuracy to the report and check INT8 on it:",
        "  # eval: {path: eval.npz}",
        "",
        "# Stages in order; package (the bundle) is appended. distill and prune shrink a PyTorch model",
        "# first and each trains on data the recipe names (there is no default set):",
        "#   stages: [distill, prune, export, quantize, benchmark]",
        "#   distill: {data: {provider: 'mydata:train_arrays'}}   # or {dataset: {path: train.npz}}",
        "#   prune: {data: {provider: 'mydata:train_arrays'}}",
        "stages: [export, quantize, benchmark]",
        "",
        "# Targets whose backend works on this machine (`edge-pipeline targets` lists every profile,",
        "# `edge-pipeline doctor` says what is missing for the others).",
        "targets: " + _flow(list(targets)),
    ]
    if others:
        lines.append("# Also usable here: " + ", ".join(others))
    return "\n".join(lines) + "\n"


def _flow(value) -> str:
    """One YAML value on one line, quoted where YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text.removesuffix("\n...").strip()


def _source_lines(source: dict) -> list[str]:
    if "onnx" in source:
        return [f"  onnx: {_flow(source['onnx'])}        # an ONNX file: export, quantize and benchmark run on it"]
    return [
        f"  factory: {_flow(source['factory'])}   # 'file.py:function' (beside this file) or 'package.module:function'",
        "  # kwargs: {num_classes: 10}             # keyword arguments of the factory",
        "  # checkpoint: weights.safetensors       # a state dict (.safetensors, or .pt loaded with weights_only=True)",
    ]


def _input_lines(facts: ModelFacts) -> list[str]:
    lines = []
    for spec in facts.inputs:
        entry: dict = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}
        if not spec.dynamic_batch:
            entry["dynamic_batch"] = False
        if spec.dynamic_axes:
            entry["dynamic_axes"] = dict(spec.dynamic_axes)
        lines.append("  - " + _flow(entry))
        lines += [f"    # {line}" for line in facts.confirm.get(spec.name, [])]
    return lines


def _output_lines(facts: ModelFacts) -> list[str]:
    shapes = [f"#   {name}: {list(shape)}" for name, shape in facts.outputs]
    if not facts.declare_outputs:
        return ["# The file's outputs (their names come from the graph); shapes:", *shapes, ""]
    return ["# Names for the outputs in order, read from one forward pass (rename freely); shapes:", *shapes,
            "outputs: " + _flow([name for name, _ in facts.outputs]), ""]


def relative_reference(reference: str, recipe_folder: Path) -> str:
    """A 'file.py:function' reference rewritten relative to the recipe's folder (where the recipe
    looks files up); a 'package.module:function' reference is returned as given."""
    module, sep, function = reference.rpartition(":")
    if not sep or not module.endswith(".py"):
        return reference
    path = Path(module)
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        return reference  # building the model reports the missing file
    relative = os.path.relpath(path.resolve(), recipe_folder.resolve())
    return f"{Path(relative).as_posix()}:{function}"
