"""ONNX Runtime's runner: a session on the chosen execution providers (CPU unless told), timed and
profiled. It needs only the onnxruntime wheel: a device install has no `onnx`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_pipeline.backends.base import ExecutedNode, InputInfo, LayerProfile, Runner
from edge_pipeline.errors import StageError

_RUNTIME_OPT_SUFFIX = ".with_runtime_opt.ort"  # an ORT-format model that replays saved optimizations


class OnnxRuntimeRunner(Runner):
    def load(self) -> None:
        from edge_pipeline.backends.onnxruntime.providers import (
            check_assigned,
            check_available,
            requested_providers,
        )

        self.providers = requested_providers(self.options.settings)
        check_available(self.providers, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(self.path), self._session_options(), providers=self.providers)
        except Exception as exc:
            raise StageError(_load_failure(self.path, exc)) from exc
        check_assigned(self.providers, self.session.get_providers(), self.path.name)
        self._inputs = [InputInfo(i.name, tuple(i.shape), _ort_dtype(i.type)) for i in self.session.get_inputs()]
        self._outputs = [o.name for o in self.session.get_outputs()]

    def _session_options(self) -> ort.SessionOptions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.options.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        if self.path.name.endswith(_RUNTIME_OPT_SUFFIX):
            # Replays the optimizations saved at conversion; ORT asks this only for trusted models,
            # which ours are (we converted them).
            so.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        if self.options.profile_prefix is not None:
            so.enable_profiling = True
            # ORT writes '<prefix>_<timestamp>.json', by default into the current folder.
            so.profile_file_prefix = self.options.profile_prefix + ".ort-profile"
        return so

    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, feed)

    def runtime_info(self) -> dict:
        """The providers asked for, in priority order, and those ORT assigned (CPU is its fallback)."""
        return {"providers_requested": self.providers, "providers": self.session.get_providers()}

    def profile_layers(self, feed: dict[str, np.ndarray], warmup: int, runs: int) -> LayerProfile | None:
        from edge_pipeline.backends.onnxruntime.profiling import layer_times

        if self.options.profile_prefix is None:
            raise StageError(f"{self.path.name}: profile_layers needs a runner loaded with profile_prefix")
        call = self.prepare(feed)
        for _ in range(warmup + runs):
            call()
        written = Path(self.session.end_profiling())
        trace = Path(self.options.profile_prefix + ".ort-profile.json")
        written.replace(trace)  # a name the caller chose, without ORT's timestamp
        layers, kept = layer_times(trace, warmup)
        return LayerProfile(layers, kept, str(trace))

    def executed_graph(self) -> list[ExecutedNode] | None:
        """Read from the graph ORT optimizes the same file to (it needs ``onnx``: a build host, not a
        device); its node names are the ones the profiler reports."""
        from edge_pipeline.backends.onnxruntime.backend import executed_graph

        return executed_graph(self.path)


def _load_failure(path: Path, exc: Exception) -> str:
    """One line: the op ORT lacks where that is the cause, else ORT's first line."""
    from edge_pipeline.backends.onnxruntime.ops import missing_op, unsupported_op_message

    op = missing_op(str(exc))
    if op is not None:
        return unsupported_op_message(path.name, [op])
    return f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0]}"


def _ort_dtype(type_string: str) -> str:
    """'tensor(float)' -> 'float32': the numpy name of an ONNX Runtime input type."""
    names = {"float": "float32", "double": "float64", "bool": "bool"}
    inner = type_string.removeprefix("tensor(").removesuffix(")")
    return names.get(inner, inner)
