"""A frozen model's outputs computed once over the transfer data and looked up per batch.

Distillation and prune recovery call a frozen model (the teacher, or the unpruned student) under
no_grad on every batch of every epoch. Without augmentation or hints its outputs are the same each
epoch: it is in eval mode, so a sample's outputs do not depend on the batch it sits in. One pass
over the data before training then replaces one pass per epoch, and the training loop looks the
outputs up by sample index. The training itself (shuffling, RNG, losses) is the same as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.utils.data import Dataset

from edge_pipeline.config.training import TrainConfig
from edge_pipeline.distillation.outputs import OutputLosses
from edge_pipeline.training import distributed as dist_util
from edge_pipeline.training.batches import call_model

# Per-token outputs of a large encoder over a large transfer set can be gigabytes: above this the
# frozen model runs per batch as before, trading time for memory.
MAX_PRECOMPUTED_BYTES = 512 * 2**20
CHUNK_SAMPLES = 256

NamedOutputs = dict[str, torch.Tensor]


def precompute_applies(train: TrainConfig, uses_hints: bool, world_size: int) -> bool:
    """Whether computing the outputs once can replace the per-batch forward passes (size aside).

    Shifted inputs differ every epoch, and hints read the frozen model's features, which are not
    kept. Under torchrun every rank computes the whole set (any sample may land on it), so it only
    saves passes when there are more epochs than ranks.
    """
    return train.shift_augment == 0 and not uses_hints and train.epochs > world_size


def fits_in_memory(bytes_per_sample: int, samples: int) -> bool:
    return bytes_per_sample * samples <= MAX_PRECOMPUTED_BYTES


class FrozenOutputs:
    """{output name: tensor of every sample's output}, in dataset order."""

    def __init__(self, outputs: NamedOutputs):
        self.outputs = outputs

    @classmethod
    def compute(cls, model: torch.nn.Module, dataset, named: Callable[[object], NamedOutputs],
                chunk: int = CHUNK_SAMPLES) -> FrozenOutputs | None:
        """Run ``model`` (eval mode, no grad) over ``dataset`` (sliceable: ``dataset[a:b]`` gives
        (inputs, labels)) in chunks; ``named`` names a forward() result (``OutputLosses.named``).
        None when the outputs would not fit in memory or have no per-sample batch dimension."""
        total = len(dataset)
        model.eval()
        with torch.no_grad():
            first = _chunk_outputs(model, dataset, 0, chunk, named)
            if first is None or not fits_in_memory(_bytes_per_sample(first), total):
                return None
            store = {name: value.new_empty((total, *value.shape[1:])) for name, value in first.items()}
            _fill(store, first, 0)
            for start in range(chunk, total, chunk):
                outputs = _chunk_outputs(model, dataset, start, chunk, named)
                if outputs is None or any(outputs[n].shape[1:] != store[n].shape[1:] for n in store):
                    return None  # shapes that vary by batch: keep calling the model per batch
                _fill(store, outputs, start)
        return cls(store)

    def __len__(self) -> int:
        return len(next(iter(self.outputs.values())))

    def lookup(self, indices: torch.Tensor) -> NamedOutputs:
        """The outputs of the samples at ``indices`` (dataset positions), batch first."""
        return {name: value.index_select(0, indices.to(value.device)) for name, value in self.outputs.items()}

    def loss(self, table: OutputLosses, outputs, y) -> torch.Tensor:
        """``table``'s loss of the trained model's ``outputs`` against these; ``y`` is what the loop
        hands the loss function from an IndexedDataset: ``[labels, indices]``."""
        labels, indices = y
        return table.against_named(outputs, self.lookup(indices), labels)


class IndexedDataset(Dataset):
    """Each sample as ``(inputs, (label, index))``. The DataLoader collates the pair into
    ``[labels, indices]``, which the training loop hands to the loss function as ``y`` (see
    ``FrozenOutputs.loss``). It draws nothing from any generator: the sampler decides the
    order, so shuffling (and DistributedSampler's shards) are those of the wrapped dataset."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        inputs, label = self.dataset[index]
        return inputs, (label, index)


def precomputed_outputs(model: torch.nn.Module, dataset, named: Callable[[object], NamedOutputs],
                        train: TrainConfig, uses_hints: bool = False) -> FrozenOutputs | None:
    """The frozen ``model``'s outputs over ``dataset`` when computing them once saves forward passes
    and fits in memory; None: call the model per batch as before."""
    dist_util.ensure_process_group()  # the loop joins it next anyway; the rank count decides here
    if not precompute_applies(train, uses_hints, dist_util.world_size()):
        return None
    if train.threads:  # as the loop sets it: the pass it replaces ran on these threads
        torch.set_num_threads(train.threads)
    return FrozenOutputs.compute(model, dataset, named)


def _chunk_outputs(model: torch.nn.Module, dataset, start: int, chunk: int,
                   named: Callable[[object], NamedOutputs]) -> NamedOutputs | None:
    inputs, labels = dataset[start : start + chunk]
    outputs = named(call_model(model, inputs))
    batched = all(value.ndim > 0 and value.shape[0] == len(labels) for value in outputs.values())
    return outputs if batched else None


def _bytes_per_sample(outputs: Mapping[str, torch.Tensor]) -> int:
    return sum(value[0].numel() * value.element_size() for value in outputs.values())


def _fill(store: NamedOutputs, outputs: Mapping[str, torch.Tensor], start: int) -> None:
    for name, value in outputs.items():
        store[name][start : start + len(value)] = value
