"""A cached step for training that every torchrun rank joins, while rank 0 alone writes.

Rank 0 runs the ordinary step (``step(name, produce)``, the engine's cached step of the stage). If
it misses, it tells the other ranks to join the computation (DDP needs every rank in each
all-reduce); they train on their shard and write nothing. Rank 0 then broadcasts the published
artifact records, so every rank continues with the same artifacts. On one process this is exactly
the stage's step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_pipeline.artifacts.record import Artifact

# The stage's step, bound to its cache material: (step name, produce) -> (artifacts, extras).
Step = Callable[[str, Callable[[Path], tuple[list[Artifact], dict]]], tuple[list[Artifact], dict]]

_JOIN = "join"


def collective_step(
    run_step: Step,
    step: str,
    compute: Callable[[], object],
    save: Callable[[object, Path], tuple[list[Artifact], dict]],
) -> tuple[list[Artifact], dict]:
    """``compute()`` runs on every rank (it may use collectives); ``save(result, directory)`` on rank 0 only."""
    from edge_pipeline.training import distributed as dist_util

    dist_util.ensure_process_group()
    if dist_util.world_size() == 1:
        return run_step(step, lambda directory: save(compute(), directory))
    if dist_util.is_main_process():
        def produce(directory: Path):
            _broadcast(_JOIN)
            return save(compute(), directory)

        artifacts, extras = run_step(step, produce)
        _broadcast(([a.model_dump(mode="json") for a in artifacts], extras))
        return artifacts, extras
    message = _broadcast(None)
    if message == _JOIN:
        compute()
        message = _broadcast(None)
    records, extras = message
    return [Artifact.model_validate(r) for r in records], extras


def main_rank_value(compute: Callable[[], object]):
    """Run ``compute`` on rank 0 only (e.g. a latency measurement) and hand every rank its result."""
    from edge_pipeline.training import distributed as dist_util

    if dist_util.world_size() == 1:
        return compute()
    return _broadcast(compute() if dist_util.is_main_process() else None)


def _broadcast(value):
    import torch.distributed as dist

    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
