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


def dataset_file_hash(path: Path) -> str:
    from edge_pipeline.artifacts.hashing import sha256_tree

    return sha256_tree(path)
