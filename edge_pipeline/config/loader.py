"""YAML loading (safe_load only), `--set key.path=value` overrides, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge_pipeline.errors import ConfigError

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def read_yaml_mapping(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; pass an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__}); fix the syntax") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Each override is 'a.b.c=value'; the value is parsed as a YAML scalar or list."""
    for item in overrides:
        key_path, sep, raw = item.partition("=")
        if not sep or not key_path:
            raise ConfigError(f"--set {item!r}: expected key.path=value, e.g. --set quantize.method=entropy")
        node = data
        *parents, leaf = key_path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{source}: --set {key_path}: '{part}' is not a section")
            node = child
        node[leaf] = yaml.safe_load(raw)
    return data


def validate_config(model_type: type[ConfigT], data: dict, source: str) -> ConfigT:
    try:
        return model_type.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from exc


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'; remove it or check its spelling")
        elif err["type"] == "missing":
            lines.append(f"{source}: missing key '{key}'; add it")
        else:
            lines.append(f"{source}: '{key}': {err['msg']}")
    return "\n".join(lines)


def load_config(model_type: type[ConfigT], path: Path, overrides: list[str] | None = None) -> ConfigT:
    data = apply_overrides(read_yaml_mapping(path), overrides or [], str(path))
    return validate_config(model_type, data, str(path))
