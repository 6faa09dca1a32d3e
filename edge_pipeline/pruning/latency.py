"""Measured FP32 latency on a named backend, the candidate and the teacher timed side by side.

Each check exports the candidate to ONNX (the same exporter as the export stage) and alternates
short timing rounds of candidate and teacher, so both see the same machine load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from edge_pipeline.config.schema import ExportConfig, InputSpec
from edge_pipeline.config.shrink import PruneTarget

ROUNDS = 7
ROUND_SECONDS = 0.2


class LatencyProbe:
    """``specs``: the recipe's inputs in forward() order (one InputSpec for a one-input model);
    ``check_inputs``: real samples by input name (a bare array for a one-input model)."""

    def __init__(self, teacher: torch.nn.Module, specs: InputSpec | list[InputSpec],
                 check_inputs: np.ndarray | dict[str, np.ndarray], target: PruneTarget):
        from edge_pipeline.backends.registry import get_backend

        self.backend = get_backend(target.backend)
        self.target = target
        specs = [specs] if isinstance(specs, InputSpec) else list(specs)
        self.specs = [s.model_copy(update={"shape": [1, *s.shape[1:]]}) for s in specs]
        self.check_inputs = check_inputs
        self._folder = tempfile.TemporaryDirectory(prefix="ep-prune-latency-")
        self.teacher_path = self._export(teacher, "teacher")

    def measure(self, model: torch.nn.Module, label: str) -> dict[str, float]:
        """Median batch-1 latency (ms) of ``model`` and of the teacher, and their ratio."""
        from edge_pipeline.backends.base import RunnerOptions
        from edge_pipeline.benchmarking.timing import time_calls

        candidate_path = self._export(model, label)
        options = RunnerOptions(threads=self.target.threads)
        # Zeros for floats, ones for integers: a valid token id, a mask that keeps every position.
        sample = {s.name: (np.zeros if np.issubdtype(np.dtype(s.dtype), np.floating) else np.ones)(s.shape, s.dtype)
                  for s in self.specs}
        rounds: list[dict[str, float]] = []
        runner = self.backend.runner
        with runner(candidate_path, options) as candidate, runner(self.teacher_path, options) as teacher:
            for _ in range(ROUNDS):
                rounds.append({
                    key: float(np.median(time_calls(timed.prepare(sample), 5, 10_000, ROUND_SECONDS)))
                    for key, timed in (("candidate", candidate), ("teacher", teacher))
                })
        # The ratio is taken per round (both timed back to back), then the median over rounds:
        # a burst of load from other processes then skews one round, not the answer.
        ratio = float(np.median([r["candidate"] / r["teacher"] for r in rounds]))
        return {
            "latency_ms": float(np.median([r["candidate"] for r in rounds])),
            "teacher_latency_ms": float(np.median([r["teacher"] for r in rounds])),
            "latency_vs_teacher": ratio,
        }

    def _export(self, model: torch.nn.Module, label: str) -> Path:
        from edge_pipeline.modeling.onnx_export import export_onnx

        path = Path(self._folder.name) / f"{label}.onnx"
        config = ExportConfig(check_samples=4)
        export_onnx(model.eval(), self.specs, config, path, self.check_inputs)
        return path

    def close(self) -> None:
        self._folder.cleanup()
