"""Model-ready samples: ``inputs`` shaped (N, *input.shape[1:]), optional integer ``labels``.

Only numpy is imported here: the benchmark reads the evaluation split on devices without torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_pipeline.errors import DataError


@dataclass(frozen=True)
class ArrayDataset:
    inputs: np.ndarray  # (N, *sample_shape)
    labels: np.ndarray | None  # (N,) int64, or None for unlabelled data
    source: str
    sha256: str

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def take(self, count: int) -> ArrayDataset:
        count = min(count, len(self))
        labels = None if self.labels is None else self.labels[:count]
        return ArrayDataset(self.inputs[:count], labels, self.source, f"{self.sha256}:{count}")

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self), batch_size):
            yield self.inputs[start : start + batch_size]

    def check_matches(self, sample_shape: tuple[int, ...], dtype: str, role: str) -> None:
        """Fail early, naming the file, when the data cannot feed the model's input."""
        if len(self) == 0:
            raise DataError(f"{role} data {self.source} holds no samples; add at least one")
        got = tuple(self.inputs.shape[1:])
        if got != tuple(sample_shape):
            raise DataError(
                f"{role} data {self.source} has samples shaped {list(got)} but the model input needs "
                f"{list(sample_shape)} (batch excluded); regenerate the data or fix input.shape"
            )
        if self.inputs.dtype != np.dtype(dtype):
            raise DataError(
                f"{role} data {self.source} is {self.inputs.dtype}, the model input is {dtype}; "
                f"save the arrays as {dtype}"
            )
        if self.labels is not None and self.labels.shape != (len(self),):
            raise DataError(
                f"{role} data {self.source}: labels shaped {list(self.labels.shape)}, expected [{len(self)}]"
            )


def dataset_file_hash(path: Path) -> str:
    from edge_pipeline.artifacts.hashing import sha256_tree

    return sha256_tree(path)
