"""One training loop for every stage that trains. The stage supplies ``loss_fn(model, x, y)``, where
``x`` is a tensor for a one-input model and a sequence of tensors (recipe input order) otherwise.

Under torchrun the model is wrapped in DDP and each rank sees its shard (DistributedSampler);
only rank 0 writes checkpoints. A checkpoint per epoch lets an interrupted run resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from edge_pipeline.config.training import TrainConfig
from edge_pipeline.progress import progress
from edge_pipeline.training import distributed as dist_util
from edge_pipeline.training.batches import Inputs, batch_length
from edge_pipeline.training.checkpoints import EpochCheckpoints

LossFn = Callable[[torch.nn.Module, Inputs, torch.Tensor], torch.Tensor]


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=config.momentum > 0
    )


def build_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    if config.schedule == "onecycle" and total_steps > 0:
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    if config.schedule == "cosine" and total_steps > 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def random_shift(x: Inputs, pixels: int, generator: torch.Generator) -> Inputs:
    """Roll the batch by one random (dy, dx). Of several inputs only float images (B, C, H, W) move,
    all by the same offset; token ids, masks and state vectors have no pixels to shift."""
    if pixels == 0:
        return x
    dy, dx = torch.randint(-pixels, pixels + 1, (2,), generator=generator).tolist()
    if isinstance(x, torch.Tensor):
        return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    return [torch.roll(t, shifts=(dy, dx), dims=(-2, -1)) if t.ndim == 4 and t.is_floating_point() else t
            for t in x]


def fit(
    model: torch.nn.Module,
    dataset: Dataset,
    loss_fn: LossFn,
    config: TrainConfig,
    label: str = "train",
    checkpoint_dir: Path | None = None,
    extra_params: list[torch.nn.Parameter] | None = None,
) -> torch.nn.Module:
    """Train ``model`` in place and return it (unwrapped). ``extra_params`` train alongside (adapters)."""
    dist_util.ensure_process_group()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    sampler: DistributedSampler | None = None
    if dist_util.world_size() > 1:
        sampler = DistributedSampler(dataset, seed=config.seed)
    generator = torch.Generator().manual_seed(config.seed + dist_util.rank())
    loader = DataLoader(
        dataset, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler, generator=generator
    )
    params = list(model.parameters()) + list(extra_params or [])
    optimizer = build_optimizer(params, config)
    schedule = build_schedule(optimizer, config, config.epochs * len(loader))
    checkpoints = EpochCheckpoints(checkpoint_dir) if checkpoint_dir else None
    start_epoch = checkpoints.resume(model, optimizer, schedule, extra_params) if checkpoints else 0
    dist_util.broadcast_state(model)
    trained = _wrap_ddp(model)
    for epoch in range(start_epoch, config.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        loss = _run_epoch(trained, loader, loss_fn, optimizer, schedule, config, generator)
        progress(label, f"epoch {epoch + 1}/{config.epochs} loss {loss:.4f}", done=epoch + 1, total=config.epochs)
        if checkpoints and dist_util.is_main_process():
            checkpoints.save(epoch + 1, model, optimizer, schedule, extra_params)
        dist_util.barrier()
    model.eval()
    return model


def _wrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
    if dist_util.world_size() > 1:
        return torch.nn.parallel.DistributedDataParallel(model)
    return model


def _run_epoch(model, loader, loss_fn: LossFn, optimizer, schedule, config: TrainConfig, generator) -> float:
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x = random_shift(x, config.shift_augment, generator)
        loss = loss_fn(model, x, y)
        if not math.isfinite(loss.item()):
            from edge_pipeline.errors import StageError

            raise StageError(f"training loss became {loss.item()}; lower the learning rate (lr={config.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total += loss.item() * batch_length(x)
        count += batch_length(x)
    return total / max(count, 1)
