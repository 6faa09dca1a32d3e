"""Model-ready samples: ``inputs`` shaped (N, *input.shape[1:]), optional integer ``labels``.

Only numpy is imported here: the benchmark reads the evaluation split on devices without torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_pipeline.errors import DataError

DEFAULT_INPUT = "input"


@dataclass(frozen=True)
class ArrayDataset:
    """Named model inputs, ``arrays[name]`` shaped (N, *sample shape), with optional labels.

    A bare array is the one-input case, named ``input``; a one-array dataset feeds a one-input
    model whatever that input is called.
    """

    arrays: Mapping[str, np.ndarray]  # input name -> (N, *sample_shape)
    labels: np.ndarray | None  # (N,) int64, or None for unlabelled data
    source: str
    sha256: str

    def __post_init__(self) -> None:
        if isinstance(self.arrays, np.ndarray):
            object.__setattr__(self, "arrays", {DEFAULT_INPUT: self.arrays})
        lengths = {name: len(a) for name, a in self.arrays.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"{self.source}: input arrays hold different sample counts {lengths}; give each the same N")

    def __len__(self) -> int:
        return int(len(next(iter(self.arrays.values())))) if self.arrays else 0

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
        arrays = {k: v[:count] for k, v in self.arrays.items()}
        return ArrayDataset(arrays, labels, self.source, f"{self.sha256}:{count}")

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
        """Batches as named feeds: {input name: (batch, ...)}; the last batch may be short."""
        arrays = self.named_for(input_names) if input_names is not None else dict(self.arrays)
        for start in range(0, len(self), batch_size):
            yield {name: a[start : start + batch_size] for name, a in arrays.items()}

    def check_matches(self, expected: Mapping[str, tuple[tuple[int, ...], str]], role: str) -> None:
        """Fail early, naming the file, when the data cannot feed the model: ``expected`` maps
        each input name to its (sample shape, dtype)."""
        if len(self) == 0:
            raise DataError(f"{role} data {self.source} holds no samples; add at least one")
        arrays = self.named_for(list(expected))
        for name, (sample_shape, dtype) in expected.items():
            got = tuple(arrays[name].shape[1:])
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
            check_finite(arrays[name], f"{role} data {self.source}", name)

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
        for name, array in self.arrays.items():
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
                        f"in sample {first} ({values.reshape(-1)[first]!r}); save integer labels")
    raise DataError(f"{what}: labels are {values.dtype}, not integers; save integer class indices")


def dataset_file_hash(path: Path) -> str:
    from edge_pipeline.artifacts.hashing import sha256_tree

    return sha256_tree(path)
