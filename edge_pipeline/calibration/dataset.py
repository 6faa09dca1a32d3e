"""Model-ready samples: ``inputs`` holding N samples along each input's batch axis (calibration/layout.py),
optional ``labels`` (class indices, or floats for a recipe's metric).

Only numpy is imported here: the benchmark reads the evaluation split on devices without torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_pipeline.calibration.layout import Layout, batch_starts, feed_slice, sample_axis, sample_count, samples
from edge_pipeline.errors import DataError

DEFAULT_INPUT = "input"


@dataclass(frozen=True)
class ArrayDataset:
    """Named model inputs, ``arrays[name]`` shaped (N, *sample shape), with optional labels.

    A bare array is the one-input case, named ``input``; a one-array dataset feeds a one-input
    model whatever that input is called.
    """

    arrays: Mapping[str, np.ndarray]  # input name -> N samples along its batch axis (axis 0 by default)
    labels: np.ndarray | None  # (N,) int64 (or float for a metric's regression target), or None for unlabelled data
    source: str
    sha256: str
    layout: Layout = field(default_factory=Layout)  # batch axes and state pairs of the model it feeds
    sequence_start: np.ndarray | None = None  # (N,) bool: where a stream starts (None: one stream)

    def __post_init__(self) -> None:
        if isinstance(self.arrays, np.ndarray):
            object.__setattr__(self, "arrays", {DEFAULT_INPUT: self.arrays})
        lengths = {name: self._count(name, a) for name, a in self.arrays.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"{self.source}: input arrays hold different sample counts {lengths}; give each the same N")

    def __len__(self) -> int:
        return self._count(*next(iter(self.arrays.items()))) if self.arrays else 0

    def _count(self, name: str, array: np.ndarray) -> int:
        if np.ndim(array) == 0:
            raise DataError(f"{self.source}: input '{name}' is a single value; save one value per sample (shape (N,))")
        axis = sample_axis(self.layout.input_axis(name))
        if axis >= np.ndim(array):
            raise DataError(f"{self.source}: input '{name}' has shape {list(np.shape(array))}, no axis {axis} to hold "
                            "its samples (its batch_axis); save the samples along that axis")
        return sample_count(array, self.layout.input_axis(name))

    def laid_out(self, layout: Layout, sequence_start: np.ndarray | None = None) -> ArrayDataset:
        """The same samples for a model with ``layout`` (its batch axes and state pairs)."""
        start = self.sequence_start if sequence_start is None else sequence_start
        # The layout changes what evaluation computes, so steps keyed on the data are keyed on it too.
        identity = self.sha256.split("|layout:")[0]
        if not layout.is_default or start is not None:
            marks = "" if start is None else hashlib.sha256(np.asarray(start, bool).tobytes()).hexdigest()[:16]
            identity += f"|layout:{layout.to_json()}:{marks}"
        return replace(self, layout=layout, sequence_start=start, sha256=identity)

    def samples_of(self, name: str, start: int, stop: int) -> np.ndarray:
        """Input ``name``'s samples ``start:stop``, still along its sample axis."""
        return samples(self.arrays[name], start, stop, self.layout.input_axis(name))

    @property
    def names(self) -> list[str]:
        return list(self.arrays)

    @property
    def inputs(self) -> np.ndarray:
        """The one input array of a one-input dataset (training loops and image folders use this)."""
        if len(self.arrays) != 1:
            raise DataError(f"{self.source} holds inputs {self.names}; this step takes a one-input model")
        return next(iter(self.arrays.values()))

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def take(self, count: int) -> ArrayDataset:
        count = min(count, len(self))
        labels = None if self.labels is None else self.labels[:count]
        arrays = {k: self.samples_of(k, 0, count) for k in self.arrays}
        starts = None if self.sequence_start is None else self.sequence_start[:count]
        return ArrayDataset(arrays, labels, self.source, f"{self.sha256}:{count}", self.layout, starts)

    def named_for(self, input_names: list[str]) -> dict[str, np.ndarray]:
        """The arrays keyed by the model's input names."""
        if set(input_names) == set(self.arrays):
            return {name: self.arrays[name] for name in input_names}
        if len(input_names) == 1 and len(self.arrays) == 1:
            return {input_names[0]: self.inputs}
        raise DataError(
            f"{self.source} holds inputs {self.names}, the model takes {input_names}; name the arrays after them"
        )

    def feeds(self, batch_size: int, input_names: list[str] | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Batches as named feeds, each input's batch on its batch axis; the last batch may be short. A
        model with an input fed whole (a scalar) or with state gets one sample a feed."""
        arrays = self.named_for(input_names) if input_names is not None else dict(self.arrays)
        axes = {name: self.layout.input_axis(self._data_name(name)) for name in arrays}
        batch_size = 1 if self.layout.one_at_a_time else batch_size
        for start, stop in batch_starts(len(self), batch_size):
            yield {name: feed_slice(a, start, stop, axes[name]) for name, a in arrays.items()}

    def _data_name(self, name: str) -> str:
        # A one-array dataset feeds a one-input model whatever that input is called.
        return name if name in self.arrays or len(self.arrays) != 1 else next(iter(self.arrays))

    def check_matches(self, expected: Mapping[str, tuple[tuple[int, ...], str]], role: str) -> None:
        """Fail early, naming the file, when the data cannot feed the model: ``expected`` maps
        each input name to its (sample shape, dtype)."""
        if len(self) == 0:
            raise DataError(f"{role} data {self.source} holds no samples; add at least one")
        arrays = self.named_for(list(expected))
        for name, (sample_shape, dtype) in expected.items():
            axis = sample_axis(self.layout.input_axis(self._data_name(name)))
            got = tuple(d for index, d in enumerate(arrays[name].shape) if index != axis)
            if got != tuple(sample_shape):
                raise DataError(
                    f"{role} data {self.source}: input '{name}' has samples shaped {list(got)} but the model needs "
                    f"{list(sample_shape)} (batch excluded); regenerate the data or fix input.shape in the recipe"
                )
            if arrays[name].dtype != np.dtype(dtype):
                raise DataError(
                    f"{role} data {self.source}: input '{name}' is {arrays[name].dtype}, the model input is {dtype}; "
                    f"save the arrays as {dtype}"
                )
        if self.labels is not None and self.labels.shape != (len(self),):
            raise DataError(
                f"{role} data {self.source}: labels shaped {list(self.labels.shape)}, expected [{len(self)}]"
            )
        for name in expected:
            axis = sample_axis(self.layout.input_axis(self._data_name(name)))
            check_finite(np.moveaxis(arrays[name], axis, 0), f"{role} data {self.source}", name)
        if self.sequence_start is not None and self.sequence_start.shape != (len(self),):
            raise DataError(f"{role} data {self.source}: sequence_start shaped {list(self.sequence_start.shape)}, "
                            f"expected [{len(self)}] (one flag per sample)")

    def check_label_range(self, classes: int, output: str, role: str, allow_unlabelled: bool = False) -> None:
        """Labels index ``output``'s ``classes`` scores: one outside 0..classes-1 would make accuracy 0%
        (or crash cross-entropy) instead of failing. ``allow_unlabelled``: -1 marks a sample without a
        label (transfer data), which the losses skip."""
        if self.labels is None or not len(self.labels):
            return
        bad = (self.labels < 0) | (self.labels >= classes)
        if allow_unlabelled:
            bad &= self.labels != UNLABELLED
        if bad.any():
            first = int(np.argmax(bad))
            raise DataError(
                f"{role} data {self.source}: {int(bad.sum())} labels lie outside 0..{classes - 1} (the {classes} "
                f"classes of output '{output}'), the first in sample {first} (label {int(self.labels[first])}); "
                "fix the labels or the model's number of classes"
            )

    def warnings(self, role: str) -> list[str]:
        """Data that loads but is probably not what the user meant: too few samples to calibrate or
        measure on, or a float input that is one constant (e.g. all zeros: ranges collapse)."""
        found = []
        if len(self) < MIN_SAMPLES:
            found.append(f"{role} data {self.source} holds {len(self)} samples, fewer than {MIN_SAMPLES}: "
                         "quantization ranges and accuracy from so few are unreliable; give more samples")
        carried = set(self.layout.state.values())  # a zero initial state is what streams start from
        for name, array in self.arrays.items():
            if name in carried:
                continue
            if np.issubdtype(array.dtype, np.floating) and array.size and array.min() == array.max():
                found.append(f"{role} data {self.source}: input '{name}' is the constant {array.flat[0]:g} in every "
                             "sample; check the data (quantization ranges from it are meaningless)")
        return found


# Below this many samples a dataset still loads, with a warning (calibration ranges, accuracy).
MIN_SAMPLES = 8
UNLABELLED = -1  # the label of a sample without one (distillation.losses.UNLABELLED)


def check_finite(values: np.ndarray, what: str, name: str) -> None:
    """NaN or Inf in model inputs poisons calibration ranges (an inf scale) and voids every comparison
    (NaN never compares unequal), so it is refused where it is read, naming the first bad sample."""
    if not np.issubdtype(values.dtype, np.floating) or not len(values):
        return
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        count = int((~np.isfinite(values)).sum())
        raise DataError(f"{what}: input '{name}' holds {count} NaN or Inf values in {int(bad.sum())} samples, the "
                        f"first in sample {int(np.argmax(bad))}; clean or drop those samples")


def read_labels(values, what: str, float_labels: bool = False) -> np.ndarray:
    """Class indices as int64; with ``float_labels`` (a recipe metric and no class-score output) float
    labels stay float: a regression target (a pitch in Hz) for the metric."""
    values = np.asarray(values)
    if float_labels and np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            raise DataError(f"{what}: labels hold {int((~np.isfinite(values)).sum())} NaN or Inf values; clean them")
        return values
    return integer_labels(values, what)


def integer_labels(values, what: str) -> np.ndarray:
    """Class labels as int64. Floats pass only when integral (1.0); a fraction, NaN or a string is
    refused instead of being truncated into some other class."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_:
        return values.astype(np.int64)
    if np.issubdtype(values.dtype, np.floating):
        whole = np.isfinite(values) & (values == np.round(values))
        if whole.all():
            return values.astype(np.int64)
        first = int(np.argmax(~whole.reshape(-1)))
        raise DataError(f"{what}: labels must be whole class indices, but {int((~whole).sum())} are not, the first "
                        f"in sample {first} ({values.reshape(-1)[first]!r}); save integer labels (float targets "
                        "need a recipe 'metric:' and class_score_outputs: [])")
    raise DataError(f"{what}: labels are {values.dtype}, not integers; save integer class indices")


def dataset_file_hash(path: Path) -> str:
    from edge_pipeline.artifacts.hashing import sha256_tree

    return sha256_tree(path)
