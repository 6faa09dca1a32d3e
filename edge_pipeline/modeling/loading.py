"""Materialise the recipe's PyTorch model: a factory (+ checkpoint) or a torch.export program.

Checkpoints load with ``torch.load(weights_only=True)`` or safetensors; nothing unpickles
arbitrary classes.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_file, sha256_json
from edge_pipeline.config.references import import_callable, module_source
from edge_pipeline.config.schema import InputSpec, ModelSpec
from edge_pipeline.errors import EdgePipelineError, ModelLoadError
from edge_pipeline.modeling.onnx_source import external_data_files


def load_torch_model(spec: ModelSpec):
    """Return an nn.Module in eval mode."""
    import torch

    if spec.onnx is not None:
        raise ModelLoadError(
            f"model.onnx {spec.onnx} is an ONNX file, not a PyTorch model; distill and prune need model.factory "
            "(or model.program): run export, quantize and benchmark on the ONNX file"
        )
    if spec.program is not None:
        return _load_program(Path(spec.program))
    with _user_code(spec.factory, "importing it"):
        factory = import_callable(spec.factory)
    with _user_code(spec.factory, "building the model"):
        model = factory(**spec.kwargs)
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"factory '{spec.factory}' returned {type(model).__name__}, not a torch.nn.Module")
    if spec.checkpoint is not None:
        load_checkpoint(model, Path(spec.checkpoint))
    return model.eval()


@contextmanager
def _user_code(factory: str, doing: str):
    """The user's factory failing in any way, exiting included, is a ModelLoadError naming it:
    a ``sys.exit(3)`` in it would otherwise end the run with exit code 3 (a missing runtime) and
    no message. Ctrl-C still interrupts."""
    try:
        yield
    except EdgePipelineError:
        raise  # already one line naming the factory (e.g. a module that does not import)
    except SystemExit as exc:
        raise ModelLoadError(f"factory '{factory}' called sys.exit({exc.code!r}) while {doing}; make it return "
                             "an nn.Module (or raise an exception saying what is wrong)") from exc
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(f"factory '{factory}' raised {exc.__class__.__name__} while {doing}"
                             f"{f': {detail}' if detail else ''}; fix the factory or model.kwargs") from exc


def read_state_dict(path: Path) -> dict:
    import torch

    if not path.is_file():
        raise ModelLoadError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(
            f"checkpoint {path} does not load with weights_only=True ({exc.__class__.__name__}); "
            "save a plain state_dict (torch.save(model.state_dict(), ...)) or a .safetensors file"
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"checkpoint {path} holds a {type(state).__name__}, not a state_dict")
    return state


def _read_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # SafetensorError on a truncated or foreign file, OSError on a bad read
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelLoadError(
            f"checkpoint {path} is not a readable .safetensors file ({detail}); it may be truncated: copy it "
            "again, or re-save it with safetensors.torch.save_file(model.state_dict(), ...)"
        ) from exc


def load_checkpoint(model, path: Path) -> None:
    state = read_state_dict(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
        raise ModelLoadError(
            f"checkpoint {path} does not fit the model from the factory: {detail}; "
            "use the checkpoint saved from this architecture, or fix model.kwargs"
        ) from exc


def _load_program(path: Path):
    import torch

    if not path.is_file():
        raise ModelLoadError(f"torch.export program {path} does not exist")
    try:
        return torch.export.load(str(path)).module()
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a torch.export program ({exc.__class__.__name__}: {exc})") from exc


def check_input_specs(model, specs: list[InputSpec]) -> None:
    """Run one forward pass on the declared inputs so a wrong shape or count fails before export."""
    import torch

    from edge_pipeline.modeling.onnx_export import declared_batch, example_tensors

    example = example_tensors(specs, declared_batch(specs))
    declared = (f"input.shape {specs[0].shape} ({specs[0].dtype})" if len(specs) == 1
                else "inputs " + ", ".join(f"{s.name} {s.shape} {s.dtype}" for s in specs))
    try:
        with torch.no_grad():
            model(*example)
    except TypeError as exc:
        raise ModelLoadError(
            f"the model's forward() does not take the recipe's {declared}: "
            f"{str(exc).splitlines()[0]}; list one entry per forward() argument under 'inputs'"
        ) from exc
    except Exception as exc:
        raise ModelLoadError(
            f"the model does not accept the recipe's {declared}: "
            f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}; fix input.shape (or inputs) in the recipe"
        ) from exc


def model_source_digest(spec: ModelSpec) -> str:
    """Content identity of the model source: factory code, kwargs and weight files."""
    material: dict = {"kwargs": spec.kwargs}
    if spec.onnx is not None:
        onnx_path = Path(spec.onnx)
        material["onnx"] = sha256_file(onnx_path) if onnx_path.is_file() else str(onnx_path)
        # Every external weight file the model names (not only '<model>.onnx.data'): new weights, new key.
        for data in external_data_files(onnx_path):
            if data.is_file():
                material.setdefault("onnx_data", {})[data.name] = sha256_file(data)
    elif spec.program is not None:
        material["program"] = sha256_file(Path(spec.program)) if Path(spec.program).is_file() else str(spec.program)
    else:
        material["factory"] = spec.factory
        with _user_code(spec.factory, "importing it"):
            source = module_source(spec.factory)
        material["factory_source"] = sha256_json(source) if source is not None else "unavailable"
        if spec.checkpoint is not None and Path(spec.checkpoint).is_file():
            material["checkpoint"] = sha256_file(Path(spec.checkpoint))
    return sha256_json(material)
