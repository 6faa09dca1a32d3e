"""A model's outputs as named tensors: tuples, lists, dicts and nesting flattened in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge_pipeline.errors import ConfigError


def flatten_outputs(value, prefix: str = "") -> list[tuple[str, object]]:
    """(path, tensor) leaves in order; a dict contributes its keys, a sequence its indices."""
    import torch

    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    if isinstance(value, Mapping):
        return [leaf for key, item in value.items() for leaf in flatten_outputs(item, _join(prefix, str(key)))]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [leaf for index, item in enumerate(value) for leaf in flatten_outputs(item, _join(prefix, str(index)))]
    where = f"output '{prefix}'" if prefix else "the output"
    raise ConfigError(
        f"{where} of the model is a {type(value).__name__}, not a tensor; return tensors (in a tuple, list or "
        "dict) from forward()"
    )


def output_names(value, declared: list[str] | None) -> list[str]:
    """Names for the flattened outputs: the recipe's ``outputs``, else dict paths, else output/output_i."""
    leaves = flatten_outputs(value)
    if declared is not None:
        if len(declared) != len(leaves):
            raise ConfigError(
                f"recipe 'outputs' names {len(declared)} outputs {declared}, the model returns {len(leaves)}; "
                "list one name per returned tensor"
            )
        return list(declared)
    paths = [path for path, _ in leaves]
    if len(leaves) == 1:
        return ["output"]
    if all(path and not path.split(".")[0].isdigit() for path in paths):
        return [path.replace(".", "_") for path in paths]
    return [f"output_{index}" for index in range(len(leaves))]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
