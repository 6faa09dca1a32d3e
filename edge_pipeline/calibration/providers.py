"""Datasets a user's function provides instead of a file (``data.<role>.provider``).

The function returns one of: ``{input name: (N, ...) array}`` with optional labels under the spec's
``labels_key``; an ``(inputs, labels)`` tuple whose inputs are such a dict or one array (a
one-input model); or an iterable of dicts, each one sample or one batch. Samples are told from
batches by rank against the recipe's sample shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np

from edge_pipeline.calibration.dataset import ArrayDataset, read_labels
from edge_pipeline.calibration.fenced import call_fenced
from edge_pipeline.calibration.layout import Layout, sample_axis
from edge_pipeline.config.references import import_callable
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.errors import DataError


def provided_dataset(reference: str, specs: list[InputSpec], what: str, labels_key: str = "y",
                     float_labels: bool = False, timeout_s: float = 600.0) -> ArrayDataset:
    """Call the provider ``reference`` and key its arrays by the model's input names; ``what`` names
    the recipe key in errors (e.g. ``data.calibration.provider``). The call runs fenced
    (calibration/fenced.py) within ``timeout_s``, a generator's items drawn inside the fence too."""
    provider = import_callable(reference, what=what, error=DataError)
    result = call_fenced(lambda: _drawn(provider()), what=f"{what} '{reference}'", timeout_s=timeout_s,
                         setting=f"{what.removesuffix('.provider')}.provider_timeout_s", user=provider)
    arrays, labels = _normalised(result, specs, labels_key, f"{what} '{reference}'", float_labels)
    # Laid out by the specs from the start: its sample count is read on each input's batch axis.
    layout = Layout(inputs={spec.name: spec.batch_axis for spec in specs})
    return ArrayDataset(arrays, labels, reference, _content_digest(arrays, labels), layout)


def _drawn(result):
    """A lazy iterable (a generator) drawn into a list: its items are the provider's code running."""
    if isinstance(result, tuple | Mapping | np.ndarray | str | bytes) or _is_array_like(result):
        return result
    return list(result) if isinstance(result, Iterable) else result


def _normalised(result, specs: list[InputSpec], labels_key: str, source: str, float_labels: bool = False):
    labels = None
    if isinstance(result, tuple):
        if len(result) != 2:
            raise DataError(f"{source} returned a {len(result)}-tuple; return (inputs, labels) or a dict of arrays")
        result, labels = result
    if isinstance(result, np.ndarray) or _is_array_like(result):
        if len(specs) != 1:
            raise DataError(f"{source} returned one array; the model takes inputs {[s.name for s in specs]}: "
                            "return a dict keyed by input name")
        arrays = {specs[0].name: np.asarray(result)}
    elif isinstance(result, Mapping):
        arrays, labels = _from_mapping(result, labels, labels_key, source)
    elif isinstance(result, Iterable):
        arrays, labels = _from_items(list(result), specs, labels_key, source)
    else:
        raise DataError(f"{source} returned {type(result).__name__}; return a dict of arrays keyed by input name")
    # Copies: the provider may keep the arrays it returned (a module-level cache) and edit them later.
    arrays = {name: np.array(a, copy=True, order="C") for name, a in arrays.items()}
    return arrays, None if labels is None else read_labels(labels, source, float_labels)


def _is_array_like(value) -> bool:
    return hasattr(value, "__array__") and not isinstance(value, Mapping)


def _from_mapping(result: Mapping, labels, labels_key: str, source: str):
    arrays = {str(k): np.asarray(v) for k, v in result.items() if k != labels_key}
    if labels_key in result:
        if labels is not None:
            raise DataError(f"{source} gave labels twice (in the tuple and under '{labels_key}'); give them once")
        labels = result[labels_key]
    if not arrays:
        raise DataError(f"{source} returned no input arrays; key them by the model's input names")
    return arrays, labels


def _from_items(items: list, specs: list[InputSpec], labels_key: str, source: str):
    """Per-sample or per-batch dicts, stacked or concatenated along each input's batch axis (an RNN
    state's axis 1; a new first axis for an input without one, a scalar)."""
    if not items or not all(isinstance(item, Mapping) for item in items):
        raise DataError(f"{source} returned an iterable that is empty or not of dicts; yield "
                        "{input name: array} per sample or per batch")
    ranks = {s.name: len(s.sample_shape) for s in specs}
    axes = {s.name: sample_axis(s.batch_axis) for s in specs}
    columns: dict[str, list] = {}
    for item in items:
        for key, value in item.items():
            columns.setdefault(str(key), []).append(np.asarray(value))
    joined = {}
    for key, parts in columns.items():
        sample_rank = 0 if key == labels_key else ranks.get(key, parts[0].ndim)
        batched = parts[0].ndim == sample_rank + 1
        axis = axes.get(key, 0)
        joined[key] = np.concatenate(parts, axis=axis) if batched else np.stack(parts, axis=axis)
    labels = joined.pop(labels_key, None)
    return joined, labels


def _content_digest(arrays: dict[str, np.ndarray], labels: np.ndarray | None) -> str:
    """The cache identity of provided data: what it holds, not where it came from."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    if labels is not None:
        digest.update(b"labels")
        digest.update(labels.tobytes())
    return digest.hexdigest()
