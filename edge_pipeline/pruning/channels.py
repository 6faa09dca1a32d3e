"""Structural channel pruning on torch-pruning's dependency graph.

torch-pruning traces the model, groups every coupled channel (a residual sum ties all convs that
feed it; a depthwise conv ties its input and output) and removes whole groups, so the result is a
smaller dense model. This module sets the pruner up from a PruneConfig and finds the channel
ratio that meets a MACs budget by bisection on copies.

Models with several inputs are traced and counted on one tensor per input (``model(*example)``).
The layers that write a model output keep their widths (every output, so a detector keeps both
heads); in a transformer that is every layer writing the residual stream, so the embedding width
stays. Attention blocks with a fused ``qkv`` Linear and an int head count (``num_heads`` or
``heads``) can lose head dims and/or whole heads (``PruneConfig.attention``); their forward()
must read the head width from the layer (``qkv.out_features // (3 * heads)``), as
``zoo.students.Attention`` and the kit encoder do. Hugging Face BERT-style attention (``query``,
``key``, ``value`` Linears and ``num_attention_heads``, as in BERT, RoBERTa and ViT) is handled the
same way; after pruning its ``num_attention_heads``, ``attention_head_size`` and ``all_head_size``
are set from the layers, which is what its forward() reads. Other separate q/k/v layers are pruned
as plain Linears.

Whole heads are chosen here, per block, on torch-pruning's dependency graph rather than by its
``prune_num_heads``: that one rounds the heads to remove up (``ceil(ratio * heads)``, so a block can
lose every head) and removes heads only inside a width-pruning scope that also removes channels.
Head dims go through torch-pruning's ``num_heads`` grouping (every head narrowed alike).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import ConfigError
from edge_pipeline.pruning.importance import build_importance
from edge_pipeline.training.batches import Inputs, as_tuple, call_model, leading

SEARCH_ITERATIONS = 6
GRID_FRACTIONS = (0.4, 0.6, 0.8, 1.0)
_LAYERS = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)


def count_macs_params(model: torch.nn.Module, example: Inputs) -> tuple[int, int]:
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


def output_layer_names(model: torch.nn.Module, example: Inputs) -> list[str]:
    """The Conv/Linear layers whose results reach a model output through no other Conv/Linear.

    Found on the autograd graph of one forward pass: from each output, walk back until a layer's
    own result is met. A classifier gives its last Linear; a two-head model both heads; a
    transformer that pools its residual stream every layer adding into that stream. Where no output
    carries a graph (no parameter needs grad), the last layer that ran, as before.
    """
    from edge_pipeline.modeling.outputs import flatten_outputs

    produced: dict = {}  # grad_fn of a layer's result -> layer name
    ran: list[str] = []

    def recorder(name: str):
        def record(_module, _inputs, output):
            ran.append(name)
            if isinstance(output, torch.Tensor) and output.grad_fn is not None:
                produced[output.grad_fn] = name

        return record

    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, _LAYERS)]
    handles = [m.register_forward_hook(recorder(name)) for name, m in layers]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for param, _ in flags:
            param.requires_grad_(True)
        with torch.enable_grad():
            value = call_model(model, leading(example, 1))
    finally:
        for handle in handles:
            handle.remove()
        for param, flag in flags:
            param.requires_grad_(flag)
    found: set[str] = set()
    for _, tensor in flatten_outputs(value):
        found.update(_nearest_layers(getattr(tensor, "grad_fn", None), produced))
    return [name for name, _ in layers if name in found] or ran[-1:]


def _nearest_layers(start, produced: dict) -> list[str]:
    """Names of the layers first met walking the autograd graph back from ``start``."""
    names: list[str] = []
    stack, seen = [start] if start is not None else [], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in produced:
            names.append(produced[node])
            continue
        stack += [child for child, _ in reversed(node.next_functions) if child is not None]
    return names


def _forward_with_hooks(model: torch.nn.Module, example: Inputs, hooks: list) -> None:
    """One no-grad forward pass of a single sample with (module, hook) pairs attached, then detached."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks]
    try:
        with torch.no_grad():
            call_model(model, leading(example, 1))
    finally:
        for handle in handles:
            handle.remove()


def ignored_names(model: torch.nn.Module, config: PruneConfig, example: Inputs) -> list[str]:
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


# Separate-projection layouts: (head count attribute, its q, k, v Linears). Hugging Face BERT's
# self-attention (also RoBERTa's, ViT's, ELECTRA's) keeps these names.
_SEPARATE_LAYOUTS = (("num_attention_heads", ("query", "key", "value")),)


@dataclass(frozen=True)
class AttentionBlock:
    module: torch.nn.Module  # the attention module (it owns the head count)
    attribute: str  # "num_heads", "heads" or "num_attention_heads"
    # (qkv,): fused, laid out (3, heads, head_dim) on its outputs; or (query, key, value): (heads, head_dim) each
    projections: tuple[torch.nn.Linear, ...]

    @property
    def heads(self) -> int:
        return int(getattr(self.module, self.attribute))

    def set_heads(self, heads: int) -> None:
        """Lower the head count, and the sizes a Hugging Face forward() reads (``attention_head_size``
        for its view, ``all_head_size`` in older versions) from the pruned layers. ``scaling`` stays:
        narrowed heads keep the softmax temperature the weights were trained with."""
        setattr(self.module, self.attribute, heads)
        if len(self.projections) == 1:  # fused qkv: forward() reads the head width from the layer
            return
        width = self.projections[0].out_features  # (heads * head_dim)
        for name, value in (("all_head_size", width), ("attention_head_size", width // heads)):
            if isinstance(getattr(self.module, name, None), int):
                setattr(self.module, name, value)


def attention_blocks(model: torch.nn.Module) -> list[AttentionBlock]:
    """Modules with an int ``num_heads`` (or ``heads``) and a fused ``qkv`` Linear, or an int
    ``num_attention_heads`` and ``query``/``key``/``value`` Linears."""
    found = []
    for module in model.modules():
        qkv = getattr(module, "qkv", None)
        attribute = next((a for a in ("num_heads", "heads") if isinstance(getattr(module, a, None), int)), None)
        if attribute is not None and isinstance(qkv, torch.nn.Linear):
            found.append(AttentionBlock(module, attribute, (qkv,)))
            continue
        for attribute, names in _SEPARATE_LAYOUTS:
            layers = tuple(getattr(module, name, None) for name in names)
            if isinstance(getattr(module, attribute, None), int) and \
                    all(isinstance(layer, torch.nn.Linear) for layer in layers):
                found.append(AttentionBlock(module, attribute, layers))
                break
    return found


def head_counts(model: torch.nn.Module) -> dict[str, int]:
    """{attention module name: its head count}, for the record of what pruning left."""
    blocks = {id(block.module): block.heads for block in attention_blocks(model)}
    return {name: blocks[id(module)] for name, module in model.named_modules() if id(module) in blocks}


def attention_heads(blocks: list[AttentionBlock]) -> dict:
    """{q/k/v Linear: head count}: torch-pruning's ``num_heads``, so head dims shrink head by head."""
    return {layer: block.heads for block in blocks for layer in block.projections}


def prune_channels(model: torch.nn.Module, example: Inputs, config: PruneConfig, ratio: float,
                   ignored: list[str]) -> None:
    """Remove ``ratio`` of the prunable channels (globally ranked, or per layer) in place; with
    ``config.attention`` heads/both, first ``ratio`` of each attention block's heads."""
    import torch_pruning as tp

    if ratio <= 0:
        return
    blocks = attention_blocks(model)
    if config.attention in ("heads", "both"):
        prune_heads(model, example, config, ratio, ignored, blocks)
    modules = dict(model.named_modules())
    ignored_layers = [modules[n] for n in ignored]
    narrow_heads = config.attention in ("head_dims", "both")
    if not narrow_heads:  # q/k/v widths stay: the q/k/v layers are not pruned (their group goes with them)
        ignored_layers += [layer for block in blocks for layer in block.projections]
    with warnings.catch_warnings():  # tracing needs autograd on: no torch.no_grad() here
        # Parameters outside Conv/Linear (e.g. a position embedding) are pruned on their last dim, as wanted.
        warnings.filterwarnings("ignore", message=".*[Uu]nwrapped parameters.*")
        pruner = tp.pruner.MetaPruner(
            model,
            as_tuple(leading(example, 1)),
            importance=build_importance(config.importance),
            global_pruning=config.scope == "global",
            pruning_ratio=ratio,
            max_pruning_ratio=config.max_layer_ratio,
            ignored_layers=ignored_layers,
            round_to=config.round_to,
            # Fresh dicts: torch-pruning updates its default dict in place, which would leak between calls.
            in_channel_groups={},
            out_channel_groups={},
            num_heads=attention_heads(blocks) if narrow_heads else {},
            prune_head_dims=True,
            prune_num_heads=False,
        )
        pruner.step()
    if narrow_heads:
        for block in blocks:
            block.set_heads(block.heads)  # the head width a Hugging Face forward() reads


def prune_heads(model: torch.nn.Module, example: Inputs, config: PruneConfig, ratio: float, ignored: list[str],
                blocks: list[AttentionBlock]) -> None:
    """Remove the least important ``floor(ratio * heads)`` heads of every attention block (ratio capped
    by max_layer_ratio; one head always stays), then lower its head count. A head is its q, k and v
    rows (of ``qkv``, or of ``query``, ``key`` and ``value``) and its input columns of the projection
    after it; the dependency graph finds that projection and ties them together. Ranking is per block,
    never global, so no block can lose every head."""
    import torch_pruning as tp

    ratio = min(ratio, config.max_layer_ratio)
    skipped = {module for name, module in model.named_modules() if name in ignored}
    todo = [b for b in blocks if not skipped.intersection(b.projections) and _heads_to_remove(ratio, b.heads) > 0]
    if not todo:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Uu]nwrapped parameters.*")
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=as_tuple(leading(example, 1)))
    scorers = [build_importance(config.importance), build_importance("l2")]  # bn_scale has nothing to read here
    for block in todo:
        heads = block.heads
        remove = _heads_to_remove(ratio, heads)
        projection = _projection_after(graph, block.projections)
        if projection is None or projection.in_features % heads:
            continue  # not the (heads, head_dim) layout this handles: its heads stay
        width = projection.in_features // heads
        whole = graph.get_pruning_group(projection, tp.prune_linear_in_channels, list(range(projection.in_features)))
        scores = next(s for s in (scorer(whole) for scorer in scorers) if s is not None)
        dropped = torch.topk(scores.view(heads, width).mean(dim=1), remove, largest=False).indices.sort().values
        indices = [head * width + i for head in dropped.tolist() for i in range(width)]
        group = graph.get_pruning_group(projection, tp.prune_linear_in_channels, indices)
        if graph.check_pruning_group(group):
            group.prune()
            block.set_heads(heads - remove)


def _heads_to_remove(ratio: float, heads: int) -> int:
    return min(int(ratio * heads), heads - 1)


def _projection_after(graph, projections: tuple[torch.nn.Linear, ...]) -> torch.nn.Linear | None:
    """The Linear whose input channels are tied to the q/k/v outputs (the attention's out projection)."""
    import torch_pruning as tp

    first = projections[0]
    group = graph.get_pruning_group(first, tp.prune_linear_out_channels, list(range(first.out_features)))
    found = [dep.target.module for dep, _ in group
             if isinstance(dep.target.module, torch.nn.Linear) and dep.target.module not in projections
             and graph.is_in_channel_pruning_fn(dep.handler)]
    return found[0] if len(found) == 1 else None


def pruned_copy(model: torch.nn.Module, example: Inputs, config: PruneConfig, ratio: float, ignored: list[str]):
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
