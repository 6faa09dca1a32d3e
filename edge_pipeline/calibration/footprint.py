"""What calibration holds in memory at its peak, and the batch size that keeps it inside a budget.

Every backend calibrates by running batches and folding each batch's activations into a running
record (min/max or histograms) before the next batch runs, so its peak is: the model's weights
(the loaded graph, the runtime's copy and the calibration graph), the activations of one batch,
scratch copies of the largest tensor while it is folded in, and the record. The batch is sized
from that; when even one sample cannot fit, calibration is refused before it starts, with one
line naming the estimate and the budget, rather than ending in the OOM killer's silent exit 137.
Stdlib only: the engine's preflight and every backend read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.errors import ConfigError

# The graph as loaded by the quantizer, the calibration session's copy and the augmented
# calibration graph it saves: three copies of the weights live at once.
WEIGHT_COPIES = 3
# Folding a tensor into a histogram flattens it, takes |x| and bins it: about three copies of it.
SCRATCH_COPIES = 3
# Bytes per tensor of the record: 2 * num_bins float64 counts plus min, max and edge.
_RECORD_OVERHEAD = 64
# A batch's activations are kept under this: batches past it cost memory linearly and save
# little time, since calibration is a few dozen samples.
BATCH_ACTIVATION_CEILING = 1 << 30


@dataclass(frozen=True)
class GraphFootprint:
    """Sizes read off one graph at one sample's input shapes."""

    weights: int  # bytes of the initializers
    activations: int  # bytes of every float tensor one sample makes (inputs included)
    largest: int  # bytes of the largest of those
    tensors: int  # tensors the record tracks
    unknown: int = 0  # tensors whose shape could not be inferred (counted as the largest)

    def per_sample(self) -> int:
        return self.activations + SCRATCH_COPIES * self.largest

    def record(self, num_bins: int) -> int:
        return self.tensors * (2 * num_bins * 8 + _RECORD_OVERHEAD)

    def peak(self, batch_size: int, num_bins: int) -> int:
        return WEIGHT_COPIES * self.weights + batch_size * self.per_sample() + self.record(num_bins)


@dataclass(frozen=True)
class Budget:
    bytes: int | None  # None: nothing says how much memory there is
    source: str  # what set it, for the message

    @classmethod
    def for_config(cls, config) -> Budget:
        """quantize.memory_budget_mib where the recipe sets it, else the memory available now."""
        stated = getattr(config, "memory_budget_mib", None)
        if stated is not None:
            return cls(int(stated) << 20, "quantize.memory_budget_mib")
        return cls(available_bytes(), "memory available")


def calibration_batch(footprint: GraphFootprint, preferred: int, num_bins: int, budget: Budget,
                      where: str, fixed: bool = False) -> int:
    """The largest batch up to ``preferred`` whose peak fits ``budget`` (``fixed``: the model takes
    only ``preferred``); refuses, naming the estimate and the budget, when none fits."""
    per_sample = max(1, footprint.per_sample())
    smallest = preferred if fixed else 1
    batch = preferred if fixed else max(1, min(preferred, BATCH_ACTIVATION_CEILING // per_sample))
    if budget.bytes is None:
        return batch
    fits = (budget.bytes - footprint.peak(0, num_bins)) // per_sample
    if fits < smallest:
        raise ConfigError(refusal(footprint, smallest, num_bins, budget, where))
    return int(min(batch, fits))


def refusal(footprint: GraphFootprint, batch_size: int, num_bins: int, budget: Budget, where: str) -> str:
    samples = "one sample" if batch_size == 1 else f"{batch_size} samples"
    return (
        f"{where}: calibration needs about {format_bytes(footprint.peak(batch_size, num_bins))} at {samples} per "
        f"batch (weights x{WEIGHT_COPIES} {format_bytes(WEIGHT_COPIES * footprint.weights)}, activations "
        f"{format_bytes(batch_size * footprint.per_sample())}, statistics {format_bytes(footprint.record(num_bins))}) "
        f"and the budget is {format_bytes(budget.bytes or 0)} ({budget.source}); free memory, raise "
        "quantize.memory_budget_mib, or calibrate at a smaller input shape"
    )


def available_bytes() -> int | None:
    """Memory available to a new allocation now: psutil where installed, else /proc/meminfo's
    MemAvailable (Linux), else free pages (other POSIX); None where none of these says."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"
