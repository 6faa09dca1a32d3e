"""Model inputs as the training code passes them around: one tensor, or one tensor per input.

A one-input model's batches stay bare tensors (the digits default and the zoo's loops are
unchanged); a model with several inputs gets a tuple in the recipe's ``inputs`` order, which is
how export calls it too: ``model(*inputs)``. A DataLoader collates tuples into lists; both count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Inputs = torch.Tensor | Sequence[torch.Tensor]


def as_tuple(inputs: Inputs) -> tuple[torch.Tensor, ...]:
    return (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)


def call_model(model: torch.nn.Module, inputs: Inputs):
    """``model(*inputs)``: positional, in the recipe's input order."""
    return model(*as_tuple(inputs))


def batch_length(inputs: Inputs) -> int:
    return len(as_tuple(inputs)[0])


def leading(inputs: Inputs, count: int) -> Inputs:
    """The first ``count`` samples, in the same form (tensor or tuple)."""
    if isinstance(inputs, torch.Tensor):
        return inputs[:count]
    return tuple(t[:count] for t in inputs)
