"""A pruned (or width-scaled) nn.Module saved as architecture metadata plus a safetensors state dict.

Reloading builds the base model from its factory, resizes every parameter and buffer to the saved
shapes, restores the modules' scalar attributes (``out_channels``, ``in_features``, ...) and loads
the weights strictly. Nothing is unpickled, so a checkpoint cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from edge_pipeline.artifacts.atomic import atomic_path, write_json
from edge_pipeline.errors import ModelLoadError

_SCALARS = (int, float, bool, str)


def describe(model: torch.nn.Module) -> dict:
    """Shapes of every state tensor and the JSON-able scalar attributes of every module."""
    shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    attributes = {}
    for name, module in model.named_modules():
        found = {k: _jsonable(v) for k, v in vars(module).items() if not k.startswith("_") and _is_plain(v)}
        if found:
            attributes[name] = found
    return {"shapes": shapes, "attributes": attributes}


def save_module(model: torch.nn.Module, directory: Path, stem: str) -> dict[str, str]:
    """Write ``<stem>.arch.json`` and ``<stem>.safetensors``; return their file names."""
    from safetensors.torch import save_file

    arch_name, weights_name = f"{stem}.arch.json", f"{stem}.safetensors"
    write_json(directory / arch_name, describe(model))
    with atomic_path(directory / weights_name) as tmp:
        save_file({k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}, str(tmp))
    return {"architecture": arch_name, "weights": weights_name}


def load_module(base: torch.nn.Module, directory: Path, files: dict[str, str]) -> torch.nn.Module:
    """Reshape ``base`` (a freshly built model of the same family) to the saved architecture and weights."""
    from safetensors.torch import load_file

    architecture = json.loads((directory / files["architecture"]).read_text())
    apply_architecture(base, architecture)
    try:
        base.load_state_dict(load_file(str(directory / files["weights"])), strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"saved weights in {directory} do not fit the rebuilt architecture ({str(exc).splitlines()[0]}); "
            "the base model's factory changed since it was saved: clear the cache entry and re-run"
        ) from exc
    return base.eval()


def apply_architecture(model: torch.nn.Module, architecture: dict) -> None:
    modules = dict(model.named_modules())
    for name, attrs in architecture["attributes"].items():
        module = modules.get(name)
        if module is None:
            raise ModelLoadError(f"saved architecture names module '{name}', which the base model lacks")
        for key, value in attrs.items():
            setattr(module, key, tuple(value) if isinstance(value, list) else value)
    for key, shape in architecture["shapes"].items():
        owner_name, _, attr = key.rpartition(".")
        owner = modules.get(owner_name)
        if owner is None:
            raise ModelLoadError(f"saved architecture names tensor '{key}', which the base model lacks")
        _resize(owner, attr, shape)


def _resize(owner: torch.nn.Module, attr: str, shape: list[int]) -> None:
    current = getattr(owner, attr, None)
    if current is None or list(current.shape) == shape:
        return
    fresh = torch.empty(shape, dtype=current.dtype)
    if isinstance(current, torch.nn.Parameter):
        setattr(owner, attr, torch.nn.Parameter(fresh, requires_grad=current.requires_grad))
    else:
        owner.register_buffer(attr, fresh, persistent=attr not in owner._non_persistent_buffers_set)


def _is_plain(value) -> bool:
    if isinstance(value, _SCALARS):
        return True
    return isinstance(value, tuple | list) and all(isinstance(v, _SCALARS) for v in value)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value
