"""TensorRT: explicit Q/DQ INT8 ONNX (the one INT8 path TensorRT 10.x and 11.x both accept),
engine build and benchmark where TensorRT and a GPU are present, and a Jetson device bundle.

Making artifacts needs only onnx and onnxruntime: the Q/DQ model and the bundle are made on any
machine. Its accuracy here comes from running the Q/DQ model in ONNX Runtime, reported under the
runtime variant ``ort-simulated`` -- a simulation of TensorRT's INT8 arithmetic, never a TensorRT
figure. Engine rows (variant ``tensorrt``) exist only where an engine was built.

This module imports only what running an ``.engine`` needs (numpy; tensorrt when a runner loads):
a device with TensorRT and numpy alone times engines. Quantization (quantize.py) and the
per-target steps (steps.py) read ONNX and are imported where they are used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edge_pipeline.backends.base import Backend, DeviceStep, ProducedArtifact, Runner, RunnerOptions
from edge_pipeline.backends.tensorrt.engine import ENGINE_KIND, tensorrt_version

SIMULATED_VARIANT = "ort-simulated"
ENGINE_VARIANT = "tensorrt"
STATISTICS_KIND = "calibration-statistics"


class TensorRtBackend(Backend):
    name = "tensorrt"
    runs_exported_onnx = True

    @classmethod
    def versions(cls) -> dict[str, str]:
        # From package metadata: importing onnx here would make a TensorRT-only device fail to time.
        found = {}
        for package in ("onnx", "onnxruntime", "cuda-python"):
            try:
                found[package] = version(package)
            except PackageNotFoundError:
                continue
        found["tensorrt"] = tensorrt_version() or "not installed"
        return found

    def runner(self, path: Path, options: RunnerOptions) -> Runner:
        if Path(path).suffix in (".engine", ".plan"):
            from edge_pipeline.backends.tensorrt.engine import TensorRtEngineRunner

            return TensorRtEngineRunner(path, options)
        from edge_pipeline.backends.onnxruntime.runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, options)

    def layer_outputs(self, path: Path, options: RunnerOptions, feed, names: list[str]):
        """The Q/DQ model's layers as ONNX Runtime simulates them (an engine's are not exposed)."""
        if Path(path).suffix != ".onnx":
            return None
        from edge_pipeline.backends.onnxruntime.layers import onnx_layer_outputs

        return onnx_layer_outputs(Path(path), feed, names, options.threads)

    def runtime_variants(self, precision: str, target) -> list[str]:
        return [SIMULATED_VARIANT]

    def variants_for(self, artifact, target) -> list[str]:
        return [ENGINE_VARIANT] if artifact.kind == ENGINE_KIND else [SIMULATED_VARIANT]

    def quantize(self, onnx_path: Path, dataset, config, target, out_dir: Path,
                 eval_data=None, metric=None) -> list[ProducedArtifact]:
        # No accuracy control here (one Q/DQ placement, no candidates), so eval_data and metric go unused.
        from edge_pipeline.backends.tensorrt.quantize import quantize_qdq

        return quantize_qdq(onnx_path, dataset, config, target, out_dir)

    def device_steps(self, artifact, target) -> list[DeviceStep]:
        from edge_pipeline.backends.tensorrt.steps import device_steps

        return device_steps(artifact, target, self.versions())
