"""Engine build and engine runner on a host with TensorRT and an NVIDIA GPU.

The build itself lives in tensorrt_device_script.py (the file the Jetson bundle ships), so both
paths build alike. Everything here imports ``tensorrt`` lazily: this module imports without it.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import InputInfo, ProducedArtifact, Runner
from edge_pipeline.backends.tensorrt import device_script as device
from edge_pipeline.errors import StageError

ENGINE_KIND = "tensorrt-engine"
INSTALL_FIX = "on an NVIDIA GPU host: pip install 'edge-pipeline[tensorrt]' (TensorRT 10.x/11.x and cuda-python)"


def tensorrt_version() -> str | None:
    for package in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_lean"):
        try:
            return version(package)
        except PackageNotFoundError:
            continue
    return None


def engine_unavailable_reason() -> str | None:
    """None when engines can be built here, else "<what is missing>; fix: <how>"."""
    if importlib.util.find_spec("tensorrt") is None:
        return f"tensorrt not installed; fix: {INSTALL_FIX}"
    if importlib.util.find_spec("cuda") is None:
        return "no CUDA binding (cuda-python) installed; fix: pip install cuda-python"
    try:
        device.compute_capability()
    except (RuntimeError, SystemExit) as exc:
        return f"no usable NVIDIA GPU ({exc}); fix: run on a host with a GPU and its driver"
    return None


def engine_material() -> dict:
    """What makes an engine valid: the engine cache is keyed by it, never re-used across it."""
    return {"compute_capability": device.compute_capability(), "tensorrt": tensorrt_version()}


def build_engine_artifact(onnx_path: Path, plan: dict, precision: str, directory: Path) -> ProducedArtifact:
    material = engine_material()
    name = device.engine_file_name(Path(onnx_path).name, plan["model_sha256"], material["compute_capability"],
                                   material["tensorrt"])
    engine_path = Path(directory) / name
    try:
        build = device.build_engine(Path(onnx_path), plan, engine_path, _timing_cache(plan, material))
    except RuntimeError as exc:
        raise StageError(f"TensorRT engine build for {onnx_path.name} failed: {exc}") from exc
    meta = {**material, "build": build, "plan": plan}
    return ProducedArtifact(engine_path, ENGINE_KIND, precision, variant="engine", meta=meta)


def _timing_cache(plan: dict, material: dict) -> Path | None:
    """Persisted across runs under the cache root, one per GPU and TensorRT version."""
    if not plan.get("timing_cache"):
        return None
    from edge_pipeline.config.locations import cache_root

    return cache_root() / "tensorrt" / f"timing.sm{material['compute_capability']}.trt{material['tensorrt']}.cache"


class TensorRtEngineRunner(Runner):
    """Runs a serialized engine. ``runtime_info`` adds a separate CUDA-event timed pass that splits
    each run into host-to-device, compute and device-to-host."""

    def load(self) -> None:
        try:
            self.session = device.EngineSession(self.path)
        except (RuntimeError, SystemExit) as exc:
            raise StageError(f"TensorRT cannot load {self.path.name}: {exc}") from exc
        engine = self.session.engine
        self._inputs = [
            InputInfo(
                name,
                tuple(d if d >= 0 else None for d in engine.get_tensor_shape(name)),
                str(np.dtype(self.session.trt.nptype(engine.get_tensor_dtype(name)))),
            )
            for name in self.session.input_names
        ]
        self._outputs = list(self.session.output_names)
        self._last_feed = None

    def close(self) -> None:
        self.session.close()


    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._last_feed = feed
        return self.session.run(feed)

    def runtime_info(self) -> dict:
        if self._last_feed is None:
            return {}
        iterations = int(self.options.settings.get("event_iterations", 200))
        self.session.timings.clear()
        for _ in range(iterations):
            self.session.run(self._last_feed)
        h2d, compute, d2h = (list(column) for column in zip(*self.session.timings, strict=True))
        return {
            "tensorrt": tensorrt_version(),
            "compute_capability": device.compute_capability(),
            "cuda_event_ms": {
                "h2d": device.summarize(h2d), "compute": device.summarize(compute), "d2h": device.summarize(d2h)
            },
        }
