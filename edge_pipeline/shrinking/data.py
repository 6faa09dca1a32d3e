"""Transfer data for distillation, Taylor scores and recovery: a provider function or a dataset file."""

from __future__ import annotations

import numpy as np

from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.config.shrink import TransferData


def load_transfer(spec: TransferData, inputs: InputSpec | list[InputSpec], setting: str) -> ArrayDataset:
    """Load and check against the recipe's inputs (one array per input name); ``setting`` names the
    recipe key in errors."""
    specs = [inputs] if isinstance(inputs, InputSpec) else list(inputs)
    expected = {s.name: (tuple(s.shape[1:]), s.dtype) for s in specs}
    reference = spec.provider_reference()
    if spec.dataset is not None and reference is None:
        from edge_pipeline.calibration.readers import load_dataset

        data = load_dataset(spec.dataset, specs, setting)
    else:
        data = _from_provider(str(reference), specs, setting, spec.provider_timeout_s)
    data.check_matches(expected, setting)
    if not spec.use_labels and data.labels is not None:
        data = ArrayDataset(data.arrays, None, data.source, data.sha256 + ":unlabelled")
    return data


def _from_provider(reference: str, specs: list[InputSpec], setting: str, timeout_s: float) -> ArrayDataset:
    from edge_pipeline.calibration.providers import provided_dataset

    return provided_dataset(reference, specs, f"{setting}.provider", timeout_s=timeout_s)


def torch_dataset(data: ArrayDataset, input_names: list[str] | None = None):
    """(inputs, label) samples; unlabelled samples get label -1 (the losses then skip CE).

    One input: a TensorDataset of (tensor, label), as the loops have always taken. Several inputs:
    ``inputs`` is a tuple in ``input_names`` order (the forward() order).
    """
    import torch
    from torch.utils.data import TensorDataset

    labels = torch.from_numpy(data.labels if data.labels is not None else np.full(len(data), -1, dtype=np.int64))
    if input_names is None or len(input_names) == 1:
        return TensorDataset(torch.from_numpy(data.inputs), labels)
    arrays = data.named_for(input_names)
    return MultiInputDataset(tuple(torch.from_numpy(arrays[name]) for name in input_names), labels)


class MultiInputDataset:
    """Indexing (an int or a slice) gives ``(tuple of input tensors, labels)``."""

    def __init__(self, inputs: tuple, labels):
        self.inputs = inputs
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.inputs), self.labels[index]
