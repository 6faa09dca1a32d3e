"""Channel importance criteria (torch-pruning's implementations) and what each needs first.

Taylor scores are |gradient x weight| summed over a channel group, so gradients from a few
batches must sit on the weights when the pruner ranks channels. BN scale is network slimming:
the BatchNorm gamma of each channel, optionally driven towards zero by L1-regularised training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.training.batches import Inputs, call_model


def build_importance(criterion: str):
    import torch_pruning as tp

    if criterion == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    if criterion == "l2":
        return tp.importance.MagnitudeImportance(p=2)
    if criterion == "taylor":
        return tp.importance.TaylorImportance()
    if criterion == "bn_scale":
        return tp.importance.BNScaleImportance()
    raise ValueError(criterion)  # unreachable: PruneConfig restricts the names


# loss(model, inputs, labels or None) -> scalar whose gradients rank channels
ScoringLoss = Callable[[torch.nn.Module, Inputs, "torch.Tensor | None"], torch.Tensor]


def classifier_scoring_loss(model: torch.nn.Module, x: Inputs, y: torch.Tensor | None) -> torch.Tensor:
    """A one-output classifier: CE on the labels, or on the model's own argmax."""
    logits = call_model(model, x)  # (B, classes)
    target = y if y is not None else logits.detach().argmax(dim=1)
    return F.cross_entropy(logits, target)


def accumulate_taylor_gradients(model: torch.nn.Module, batches: list[tuple[Inputs, torch.Tensor | None]],
                                loss: ScoringLoss = classifier_scoring_loss) -> None:
    """Leave the summed ``loss`` gradients of ``batches`` on ``model``'s weights (default: CE on labels,
    or the model's own argmax; models with other outputs pass the distillation table's scoring loss)."""
    model.eval()  # BN statistics stay fixed: scoring must not change the model
    model.zero_grad(set_to_none=True)
    for x, y in batches:
        loss(model, x, y).backward()


def bn_sparsity_penalty(model: torch.nn.Module, strength: float) -> Callable[[], torch.Tensor]:
    """L1 on every BatchNorm/LayerNorm scale: the network-slimming regulariser."""
    scales = [m.weight for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine]

    def penalty() -> torch.Tensor:
        return strength * sum(s.abs().sum() for s in scales) if scales else torch.zeros(())

    return penalty


def has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def needs_gradients(config: PruneConfig) -> bool:
    return config.importance == "taylor"
