"""torch.distributed helpers. Under torchrun (WORLD_SIZE>1) the loop joins a gloo/NCCL group."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def ensure_process_group() -> None:
    if launched_by_torchrun() and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def broadcast_state(module: torch.nn.Module) -> None:
    """Make every rank hold rank 0's weights (e.g. after rank 0 alone loaded a checkpoint)."""
    if dist.is_initialized():
        for tensor in list(module.state_dict().values()):
            dist.broadcast(tensor, src=0)
