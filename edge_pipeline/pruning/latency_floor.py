"""When a latency budget stops paying: each pruning step's measured latency beside its MACs, and the
stop once latency no longer falls with MACs.

A small model on a CPU runtime is often overhead-bound: per-operator dispatch, memory traffic and
thread wake-ups cost the same whatever the channel count, so past some width removing MACs no longer
removes time. Pruning on towards a latency the backend cannot reach only wrecks the model (the MNIST
CNN of the issue went to 11% of its MACs and its recovery loss from 0.45 to 2.05, at the same
latency). The watch stops after STALL_STEPS consecutive steps that each cut MACs by at least
STALL_MACS_DROP (and by STALL_RATIO times the latency cut) while latency falls by less than
STALL_LATENCY_DROP, and names the floor reached and the MACs at which it was reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import StageError

# Medians over alternated rounds still move a few percent on a loaded machine, so a smaller cut
# counts as "no longer falling"; two such steps in a row, not one, so a single noisy round cannot stop it.
STALL_LATENCY_DROP = 0.03
STALL_MACS_DROP = 0.10
STALL_RATIO = 3.0
STALL_STEPS = 2


@dataclass(frozen=True)
class LatencyPoint:
    step: int  # 0: the input model
    macs: int
    latency_ms: float
    vs_teacher: float  # latency / the teacher's, median of per-round ratios


def is_flat(before: LatencyPoint, after: LatencyPoint) -> bool:
    """True when MACs fell by much more than latency between the two points."""
    # The ratio to the teacher, not the raw median: each round times both back to back, so a burst of
    # load from other processes moves both and leaves the ratio.
    latency_drop = 1.0 - after.vs_teacher / before.vs_teacher
    macs_drop = 1.0 - after.macs / before.macs
    return latency_drop < STALL_LATENCY_DROP and macs_drop >= max(STALL_MACS_DROP, STALL_RATIO * latency_drop)


def stalled_at(points: list[LatencyPoint]) -> LatencyPoint | None:
    """The point after which the last STALL_STEPS steps were all flat (where latency stopped
    falling), or None while latency still follows MACs."""
    if len(points) < STALL_STEPS + 1:
        return None
    recent = points[-(STALL_STEPS + 1):]
    if all(is_flat(before, after) for before, after in zip(recent, recent[1:], strict=False)):
        return recent[0]
    return None


def latency_text(point: LatencyPoint, backend: str) -> str:
    return f"{point.latency_ms:.3f} ms ({point.vs_teacher:.2f}x the teacher's on {backend})"


class LatencyWatch:
    """The measured (MACs, latency) of each step of one latency-budget schedule."""

    def __init__(self, config: PruneConfig, teacher_macs: int):
        self.config = config
        self.teacher_macs = teacher_macs
        self.points: list[LatencyPoint] = []

    def record(self, step: int, macs: int, measured: dict) -> LatencyPoint:
        point = LatencyPoint(step, macs, measured["latency_ms"], measured["latency_vs_teacher"])
        self.points.append(point)
        return point

    def text(self, point: LatencyPoint) -> str:
        return latency_text(point, self.config.target.backend)

    def raise_if_stalled(self) -> None:
        floor = self.stalled()
        if floor is None:
            return
        last = self.points[-1]
        raise StageError(self._message(
            floor, f"the next {STALL_STEPS} steps cut MACs by {1 - last.macs / floor.macs:.0%} and latency by "
            f"{1 - last.vs_teacher / floor.vs_teacher:.0%} (the model is overhead-bound there)"))

    def stalled(self) -> LatencyPoint | None:
        return stalled_at(self.points)

    def failure(self, why: str) -> StageError:
        """The schedule's other ends (no channel left to remove, max_steps spent), named by the lowest
        latency measured, at the most MACs that reached it within STALL_LATENCY_DROP."""
        lowest = min(point.vs_teacher for point in self.points)
        floor = next(p for p in self.points if p.vs_teacher <= lowest * (1 + STALL_LATENCY_DROP))
        return StageError(self._message(floor, why))

    def _message(self, floor: LatencyPoint, why: str) -> str:
        target = self.config.target
        share = floor.macs / self.teacher_macs
        if floor.step == 0:  # latency never followed MACs: any pruning costs accuracy for no speed
            fix = f"pruning buys no latency on {target.backend} here; drop the prune stage or time another backend"
        else:
            fix = (f"set latency_fraction to at least {floor.vs_teacher:.2f}, or use prune.target.kind=macs with "
                   f"macs_fraction about {max(share, 0.01):.2f}")
        return (f"prune.target.latency_fraction={target.latency_fraction} is out of reach on {target.backend}: "
                f"latency floor {self.text(floor)} reached at {floor.macs:,} MACs ({share:.1%} of the teacher's); "
                f"{why}; stopped before pruning further; {fix}")
