"""Refuse a batch whose inputs cannot fit in memory before anything is timed or trained.

A batch size of 10**8 otherwise fails late, deep inside numpy or a runtime ("Unable to allocate
715 GiB"), after the stages before it ran. numpy only: the benchmark worker checks its batches
with it on a device too.
"""

from __future__ import annotations

import numpy as np

from edge_pipeline.calibration.footprint import available_bytes

# The inputs of a batch are only part of what a forward pass holds (activations, outputs, the
# runtime's arena); a batch whose inputs alone take more than this share of the available memory
# cannot run.
INPUT_SHARE = 0.5
__all__ = ["INPUT_SHARE", "available_bytes", "batch_bytes", "oversized_batch"]


def batch_bytes(sample_shapes: dict[str, tuple[tuple[int, ...], str]], batch_size: int) -> int:
    """Bytes of one batch of every input: {name: (sample shape, dtype)}. Python ints: no overflow."""
    total = 0
    for sample_shape, dtype in sample_shapes.values():
        count = batch_size
        for dim in sample_shape:
            count *= int(dim)
        total += count * np.dtype(dtype).itemsize
    return total


def oversized_batch(sample_shapes: dict[str, tuple[tuple[int, ...], str]], batch_size: int,
                    available: int | None = None) -> str | None:
    """Why ``batch_size`` cannot fit (the bytes it needs against what is available), or None."""
    available = available_bytes() if available is None else available
    if available is None:
        return None  # nothing to compare with: the run goes on and any failure is the runtime's
    needed = batch_bytes(sample_shapes, batch_size)
    if needed <= available * INPUT_SHARE:
        return None
    shapes = ", ".join(f"'{name}' {[batch_size, *shape]} {dtype}" for name, (shape, dtype) in sample_shapes.items())
    return (f"batch size {batch_size} needs {_gib(needed)} for its inputs alone ({shapes}); this machine has "
            f"{_gib(available)} available")


def _gib(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"
