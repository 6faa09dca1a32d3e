"""Where each tensor holds its batch, and evaluation run by it (numpy only: the benchmark worker uses it).

A data array holds its samples along its input's batch axis (an RNN state ``(layers, N, hidden)``
for ``batch_axis: 1``); an input without one (a scalar sample rate) holds one value per sample on
a new first axis (``(N,)``) and is fed one sample at a time, whole (a 0-d array). Outputs are joined
along their own batch axis (a CTC head's ``(T, N, C)``), outputs without one stacked on a new first
axis. State pairs run closed-loop: each sample's state input is the model's own state output of the
sample before, except at a sequence start, where the data's state is fed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

Axis = int | None  # a batch axis, or None for none
Infer = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Layout:
    """Batch axes by tensor name (absent: 0) and state pairs {output: input it feeds}."""

    inputs: Mapping[str, Axis] = field(default_factory=dict)
    outputs: Mapping[str, Axis] = field(default_factory=dict)
    state: Mapping[str, str] = field(default_factory=dict)

    def input_axis(self, name: str) -> Axis:
        return self.inputs.get(name, 0)

    def output_axis(self, name: str) -> Axis:
        return self.outputs.get(name, 0)

    @property
    def one_at_a_time(self) -> bool:
        """A model with an input fed whole, or with state, runs one sample per call."""
        return bool(self.state) or any(axis is None for axis in self.inputs.values())

    @property
    def is_default(self) -> bool:
        """Every batch on axis 0 and no state: what every model was before batch axes existed."""
        return not self.state and all(axis == 0 for axis in [*self.inputs.values(), *self.outputs.values()])

    def to_json(self) -> dict:
        return {"inputs": dict(self.inputs), "outputs": dict(self.outputs), "state": dict(self.state)}

    @classmethod
    def from_json(cls, value: dict | None) -> Layout:
        value = value or {}
        return cls(dict(value.get("inputs") or {}), dict(value.get("outputs") or {}), dict(value.get("state") or {}))


def sample_axis(axis: Axis) -> int:
    """The axis a data array holds its samples on."""
    return 0 if axis is None else axis


def sample_count(array: np.ndarray, axis: Axis) -> int:
    return int(np.shape(array)[sample_axis(axis)])


def samples(array: np.ndarray, start: int, stop: int, axis: Axis) -> np.ndarray:
    """Samples ``start:stop`` along the sample axis, still holding that axis."""
    index = [slice(None)] * np.ndim(array)
    index[sample_axis(axis)] = slice(start, stop)
    return array[tuple(index)]


def feed_slice(array: np.ndarray, start: int, stop: int, axis: Axis) -> np.ndarray:
    """Samples ``start:stop`` as the model takes them: along the batch axis, or one sample whole."""
    if axis is None:
        if stop - start != 1:
            raise ValueError(f"an input without a batch axis takes one sample at a time, not {stop - start}")
        return np.asarray(array[start])
    return samples(array, start, stop, axis)


def repeat_to(array: np.ndarray, count: int, axis: Axis) -> np.ndarray:
    """``count`` samples, the data's repeated as often as needed (a timed batch larger than the data)."""
    have = sample_count(array, axis)
    reps = int(np.ceil(count / max(have, 1)))
    return samples(np.concatenate([array] * reps, axis=sample_axis(axis)), 0, count, axis)


def join(parts: list[np.ndarray], axis: Axis) -> np.ndarray:
    """Per-call outputs joined into one array over every sample."""
    return np.stack(parts) if axis is None else np.concatenate(parts, axis=axis)


def output_samples(value: np.ndarray, axis: Axis) -> int:
    return 1 if axis is None else int(np.shape(value)[axis])


def batch_starts(count: int, batch: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, batch):
        yield start, min(start + batch, count)


def run_batches(infer: Infer, arrays: Mapping[str, np.ndarray], layout: Layout, batch: int,
                dtypes: Mapping[str, str] | None = None, whole_batches: bool = False) -> dict[str, np.ndarray]:
    """Every output over every sample, ``batch`` samples a call (1 where the layout needs it); with
    ``whole_batches`` a short last batch is dropped (a model with a fixed batch). State pairs run
    closed-loop (``run_closed_loop``)."""
    if layout.state:
        raise ValueError("a model with state runs closed-loop; use run_closed_loop")
    batch = 1 if layout.one_at_a_time else batch
    count = _count(arrays, layout)
    parts: dict[str, list[np.ndarray]] = {}
    for start, stop in batch_starts(count, batch):
        if whole_batches and stop - start != batch:
            continue
        feed = {name: _cast(feed_slice(a, start, stop, layout.input_axis(name)), name, dtypes)
                for name, a in arrays.items()}
        for name, value in infer(feed).items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: join(values, layout.output_axis(name)) for name, values in parts.items()}


def run_closed_loop(infer: Infer, arrays: Mapping[str, np.ndarray], layout: Layout,
                    sequence_start: np.ndarray | None = None,
                    dtypes: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Every output over every sample in order, one sample a call, each state input fed from the model's
    own state output of the sample before; the data's state where ``sequence_start`` is True (None: the
    samples are one sequence, started by the first)."""
    count = _count(arrays, layout)
    carried: dict[str, np.ndarray] = {}
    parts: dict[str, list[np.ndarray]] = {}
    for index in range(count):
        feed = {name: _cast(feed_slice(a, index, index + 1, layout.input_axis(name)), name, dtypes)
                for name, a in arrays.items()}
        starts = index == 0 or (sequence_start is not None and bool(sequence_start[index]))
        if not starts:
            feed.update({name: value.astype(feed[name].dtype, copy=False) for name, value in carried.items()})
        outputs = infer(feed)
        carried = {name: np.asarray(outputs[output]) for output, name in layout.state.items()}
        for name, value in outputs.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: join(values, layout.output_axis(name)) for name, values in parts.items()}


def run_all(infer: Infer, arrays: Mapping[str, np.ndarray], layout: Layout, batch: int,
            sequence_start: np.ndarray | None = None, dtypes: Mapping[str, str] | None = None,
            whole_batches: bool = False) -> dict[str, np.ndarray]:
    """Closed-loop where the layout has state, else in batches."""
    if layout.state:
        return run_closed_loop(infer, arrays, layout, sequence_start, dtypes)
    return run_batches(infer, arrays, layout, batch, dtypes, whole_batches)


def _count(arrays: Mapping[str, np.ndarray], layout: Layout) -> int:
    return sample_count(next(iter(arrays.values())), layout.input_axis(next(iter(arrays)))) if arrays else 0


def _cast(value: np.ndarray, name: str, dtypes: Mapping[str, str] | None) -> np.ndarray:
    if dtypes is None or name not in dtypes:
        return value
    return np.asarray(value).astype(dtypes[name], copy=False)


def fixed_batch(inputs, layout: Layout) -> int | None:
    """The batch a model insists on (``inputs``: its input infos, each with ``name`` and ``shape``): the
    first input with a batch axis whose size there is fixed; None when the batch is dynamic."""
    for info in inputs:
        axis = layout.input_axis(info.name)
        if axis is None or axis >= len(info.shape):
            continue
        size = info.shape[axis]
        return size if isinstance(size, int) and size > 0 else None
    return None


def feed_batch(feed: Mapping[str, np.ndarray], layout: Layout) -> int | None:
    """How many samples one feed holds: the size at the batch axis of its first input that has one
    (None when every input is fed whole)."""
    for name, value in feed.items():
        axis = layout.input_axis(name)
        if axis is not None and axis < np.ndim(value):
            return int(np.shape(value)[axis])
    return None


def without_axis(shape, axis: Axis) -> tuple:
    """A shape with its batch axis left out (the whole shape where there is none)."""
    return tuple(d for index, d in enumerate(shape) if index != axis)


def with_axis(sample_shape, axis: Axis, batch: int) -> tuple:
    """A sample shape with ``batch`` put back at the batch axis (unchanged where there is none)."""
    shape = list(sample_shape)
    if axis is not None:
        shape.insert(axis, batch)
    return tuple(shape)
