"""ONNX Runtime's session profiler trace (Chrome trace JSON) read back as per-layer times.

Each executed node is a 'Node' event named '<node>_kernel_time' with its duration in µs, its op
and its execution provider in ``args``; each ``session.run`` is a 'model_run' Session event.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_pipeline.backends.base import LayerTime
from edge_pipeline.backends.onnxruntime.providers import short_name

_KERNEL_SUFFIX = "_kernel_time"


def layer_times(trace: Path, skip_runs: int) -> tuple[list[LayerTime], int]:
    """(per-node times summed over the runs after the first ``skip_runs``, the number of runs kept)."""
    events = json.loads(Path(trace).read_text())
    runs = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    # The profiler is on from the session's start, so warm-up runs are in the trace too: drop every
    # node event that began before the first kept run.
    start = runs[skip_runs] if len(runs) > skip_runs else float("inf")
    totals: dict[str, list] = {}
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith(_KERNEL_SUFFIX) or event["ts"] < start:
            continue
        name = event["name"].removesuffix(_KERNEL_SUFFIX)
        args = event.get("args", {})
        kernel = short_name(args.get("provider", ""))
        entry = totals.setdefault(name, [args.get("op_name", ""), kernel, _precision(args), 0.0])
        entry[3] += event.get("dur", 0) / 1e3
    layers = [LayerTime(name, op, round(ms, 6), kernel, precision)
              for name, (op, kernel, precision, ms) in totals.items()]
    return layers, max(len(runs) - skip_runs, 0)


def _precision(args: dict) -> str:
    """The element type of a node's first input ('float', 'uint8'): the precision its kernel ran in."""
    shapes = args.get("input_type_shape") or [{}]
    return next(iter(shapes[0]), "") if isinstance(shapes[0], dict) else ""
