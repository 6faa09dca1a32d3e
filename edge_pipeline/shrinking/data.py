"""Transfer data for distillation, Taylor scores and recovery: a provider function or a dataset file."""

from __future__ import annotations

import numpy as np

from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.config.shrink import TransferData


def load_transfer(spec: TransferData, input_spec: InputSpec, setting: str) -> ArrayDataset:
    """Load and check against the recipe's input; ``setting`` names the recipe key in errors."""
    expected = {input_spec.name: (tuple(input_spec.shape[1:]), input_spec.dtype)}
    reference = spec.provider_reference()
    if reference is None:
        from edge_pipeline.calibration.readers import load_dataset

        data = load_dataset(spec.dataset, input_spec, setting)
    else:
        data = _from_provider(reference, input_spec, setting)
    data.check_matches(expected, setting)
    if not spec.use_labels and data.labels is not None:
        data = ArrayDataset(data.arrays, None, data.source, data.sha256 + ":unlabelled")
    return data


def _from_provider(reference: str, input_spec: InputSpec, setting: str) -> ArrayDataset:
    from edge_pipeline.calibration.providers import provided_dataset

    return provided_dataset(reference, [input_spec], f"{setting}.provider")


def torch_dataset(data: ArrayDataset):
    """A TensorDataset of (input, label); unlabelled samples get label -1 (the losses then skip CE)."""
    import torch
    from torch.utils.data import TensorDataset

    labels = data.labels if data.labels is not None else np.full(len(data), -1, dtype=np.int64)
    return TensorDataset(torch.from_numpy(data.inputs), torch.from_numpy(labels))
