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
    """Names for the flattened outputs, in the model's order: a dict's outputs by their keys (the
    recipe's ``outputs`` must list the same names, in any order), a tuple's by the recipe's
    ``outputs`` in order, else output (one) or output_0, output_1, ..."""
    leaves = flatten_outputs(value)
    paths = [path for path, _ in leaves]
    keyed = all(path and not path.split(".")[0].isdigit() for path in paths)
    keys = [path.replace(".", "_") for path in paths]
    if declared is not None:
        if len(declared) != len(leaves):
            raise ConfigError(
                f"recipe 'outputs' names {len(declared)} outputs {declared}, the model returns {len(leaves)}; "
                "list one name per returned tensor"
            )
        if keyed and len(leaves) > 1:
            return _match_by_key(keys, declared)
        return list(declared)
    if len(leaves) == 1:
        return ["output"]
    if keyed:
        return keys
    return [f"output_{index}" for index in range(len(leaves))]


def _match_by_key(keys: list[str], declared: list[str]) -> list[str]:
    # Naming a dict's tensors by position would let `outputs: [boxes, logits]` call the logits
    # 'boxes' whenever the dict lists them the other way round.
    if set(declared) != set(keys):
        unknown = [name for name in declared if name not in keys]
        raise ConfigError(
            f"recipe 'outputs' names {unknown}, which the model's returned dict does not have (its keys: {keys}); "
            "list the dict's keys in 'outputs'"
        )
    return keys


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
