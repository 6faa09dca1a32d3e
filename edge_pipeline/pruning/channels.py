"""Structural channel pruning on torch-pruning's dependency graph.

torch-pruning traces the model, groups every coupled channel (a residual sum ties all convs that
feed it; a depthwise conv ties its input and output) and removes whole groups, so the result is a
smaller dense model. This module sets the pruner up from a PruneConfig and finds the channel
ratio that meets a MACs budget by bisection on copies.
"""

from __future__ import annotations

import copy
import warnings

import torch

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import ConfigError
from edge_pipeline.pruning.importance import build_importance

SEARCH_ITERATIONS = 6
GRID_FRACTIONS = (0.4, 0.6, 0.8, 1.0)


def count_macs_params(model: torch.nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) of one sample: Conv/Linear MACs counted by forward hooks on ``example[:1]``."""
    total = [0]

    def count(module, _inputs, output):
        if isinstance(module, torch.nn.Linear):
            total[0] += output.numel() * module.in_features
        else:  # Conv: each output element costs (Cin / groups) * prod(kernel) MACs
            total[0] += output.numel() * module.weight.shape[1] * module.weight[0, 0].numel()

    layer_types = torch.nn.Linear | torch.nn.Conv1d | torch.nn.Conv2d | torch.nn.Conv3d
    counted = [m for m in model.modules() if isinstance(m, layer_types)]
    _forward_with_hooks(model, example, [(m, count) for m in counted])
    return total[0], sum(p.numel() for p in model.parameters())


def output_layer_names(model: torch.nn.Module, example: torch.Tensor) -> list[str]:
    """The last Conv/Linear that runs in a forward pass: it produces the classes, so it keeps its width."""
    ran: list[str] = []
    hooks = [
        (module, lambda *_, n=name: ran.append(n))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear | torch.nn.modules.conv._ConvNd)
    ]
    _forward_with_hooks(model, example, hooks)
    return ran[-1:]


def _forward_with_hooks(model: torch.nn.Module, example: torch.Tensor, hooks: list) -> None:
    """One no-grad forward pass of a single sample with (module, hook) pairs attached, then detached."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for handle in handles:
            handle.remove()


def ignored_names(model: torch.nn.Module, config: PruneConfig, example: torch.Tensor) -> list[str]:
    known = dict(model.named_modules())
    unknown = [n for n in config.ignored_layers if n not in known]
    if unknown:
        sample = ", ".join(list(n for n in known if n)[:8])
        raise ConfigError(
            f"prune.ignored_layers names {unknown}, which the model does not have; "
            f"use module names from model.named_modules(), e.g. {sample}"
        )
    names = list(config.ignored_layers)
    if config.ignore_output_layer:
        names += [n for n in output_layer_names(model, example) if n not in names]
    return names


def attention_heads(model: torch.nn.Module) -> dict:
    """Attention blocks that expose ``num_heads`` and a fused ``qkv`` Linear: prune head dims, keep heads."""
    heads = {}
    for module in model.modules():
        qkv = getattr(module, "qkv", None)
        if isinstance(getattr(module, "num_heads", None), int) and isinstance(qkv, torch.nn.Linear):
            heads[module.qkv] = module.num_heads
    return heads


def prune_channels(model: torch.nn.Module, example: torch.Tensor, config: PruneConfig, ratio: float,
                   ignored: list[str]) -> None:
    """Remove ``ratio`` of the prunable channels (globally ranked, or per layer) in place."""
    import torch_pruning as tp

    if ratio <= 0:
        return
    modules = dict(model.named_modules())
    with warnings.catch_warnings():  # tracing needs autograd on: no torch.no_grad() here
        # Parameters outside Conv/Linear (e.g. a position embedding) are pruned on their last dim, as wanted.
        warnings.filterwarnings("ignore", message=".*[Uu]nwrapped parameters.*")
        pruner = tp.pruner.MetaPruner(
            model,
            example[:1],
            importance=build_importance(config.importance),
            global_pruning=config.scope == "global",
            pruning_ratio=ratio,
            max_pruning_ratio=config.max_layer_ratio,
            ignored_layers=[modules[n] for n in ignored],
            round_to=config.round_to,
            num_heads=attention_heads(model),
            prune_head_dims=True,
            prune_num_heads=False,
        )
        pruner.step()


def pruned_copy(model: torch.nn.Module, example: torch.Tensor, config: PruneConfig, ratio: float, ignored: list[str]):
    trial = copy.deepcopy(model)
    for original, copied in zip(model.parameters(), trial.parameters(), strict=True):
        if original.grad is not None:  # Taylor scores read the gradients; deepcopy drops them
            copied.grad = original.grad.clone()
    prune_channels(trial, example, config, ratio, ignored)
    return trial


def ratio_for_macs(model, example, config: PruneConfig, ignored: list[str], target_macs: int, setting: str) -> float:
    """Smallest channel ratio whose pruned model has at most ``target_macs`` MACs.

    MACs fall with the ratio until round_to leaves a group nothing to keep, at which point
    torch-pruning skips the group; so a coarse grid brackets the answer before bisection.
    """
    current, _ = count_macs_params(model, example)
    if current <= target_macs:
        return 0.0
    low = 0.0
    grid = [config.max_layer_ratio * f for f in GRID_FRACTIONS]
    seen: list[int] = []
    for high in grid:
        macs = _macs_at(model, example, config, high, ignored)
        seen.append(macs)
        if macs <= target_macs:
            break
        low = high
    else:
        floor = min(seen)
        raise ConfigError(
            f"{setting} cannot be met: removing up to {config.max_layer_ratio:.0%} of every prunable layer's "
            f"channels still leaves {floor:,} MACs ({floor / current:.1%} of this model; budget {target_macs:,}); "
            f"raise {setting}, raise prune.max_layer_ratio, or ignore fewer layers"
        )
    for _ in range(SEARCH_ITERATIONS):
        middle = (low + high) / 2
        if _macs_at(model, example, config, middle, ignored) <= target_macs:
            high = middle
        else:
            low = middle
    return high


def _macs_at(model, example, config: PruneConfig, ratio: float, ignored: list[str]) -> int:
    return count_macs_params(pruned_copy(model, example, config, ratio, ignored), example)[0]


def smallest_macs(model, example, config: PruneConfig, ignored: list[str]) -> int:
    return min(_macs_at(model, example, config, config.max_layer_ratio * f, ignored) for f in GRID_FRACTIONS)
