"""The Jetson bundle: the Q/DQ ONNX, a self-contained build-and-benchmark script, its plan and a
manifest. Engines are not portable across GPUs or TensorRT versions, so the device builds its own.
Written without TensorRT."""

from __future__ import annotations

import shutil
from pathlib import Path

from edge_pipeline.artifacts.atomic import write_json, write_text
from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.backends.base import ProducedArtifact
from edge_pipeline.backends.tensorrt import device_script as tensorrt_device_script
from edge_pipeline.backends.tensorrt.device_script import PLAN_FILE, describe_input, trtexec_command

BUNDLE_KIND = "tensorrt-device-bundle"
SCRIPT_NAME = "build_and_benchmark.py"
BUNDLE_SCHEMA_VERSION = 2  # 2: bundle.json lists "inputs" (plan schema 2)


def write_device_bundle(onnx_path: Path, plan: dict, directory: Path, provenance: dict) -> ProducedArtifact:
    """``plan`` comes from tensorrt_options.build_plan; ``provenance`` (artifact id, quantization
    summary, tool versions) goes into the bundle's manifest."""
    folder = Path(directory) / "jetson-bundle"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(onnx_path, folder / plan["model"])
    shutil.copy2(tensorrt_device_script.__file__, folder / SCRIPT_NAME)
    (folder / SCRIPT_NAME).chmod(0o755)
    write_json(folder / PLAN_FILE, plan)
    write_text(folder / "README.md", _readme(plan))
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {
        "schema_version": BUNDLE_SCHEMA_VERSION,
        "kind": "edge_pipeline.tensorrt_device_bundle",
        "engine": "built on the device by build_and_benchmark.py, named <model>.<sha>.sm<CC>.trt<version>.engine",
        **provenance,
        "files": files,
    }
    write_json(folder / "manifest.json", manifest)
    meta = {"plan": plan, "files": sorted(files), "engine": "built on the device (not portable across GPU / TensorRT)"}
    return ProducedArtifact(folder, BUNDLE_KIND, plan["precision"], variant="jetson-bundle", meta=meta)


def _readme(plan: dict) -> str:
    return f"""# TensorRT bundle for the device

INT8 by explicit quantization: `{plan['model']}` holds Q/DQ nodes (symmetric int8, zero-point 0,
per-channel weights), which TensorRT 10.x (JetPack 6) and 11.x (JetPack 7) build in a strongly
typed network: no calibrator, no precision flags.

On the device (needs TensorRT's Python package, numpy and cuda-python; no torch):

    python3 {SCRIPT_NAME} --dry-run   # the plan and a trtexec command, no TensorRT needed
    python3 {SCRIPT_NAME}             # build the engine for this GPU + TensorRT, then benchmark

Inputs, batch first (the engine's one optimization profile varies only the batch), and what the
benchmark feeds each:

{_inputs_text(plan)}

The engine file name carries the GPU compute capability and the TensorRT version; it is re-used
only when both match. Or build with trtexec:

    {trtexec_command(plan, plan['model'].removesuffix('.onnx') + '.engine')}
"""


def _inputs_text(plan: dict) -> str:
    return "\n".join("    " + "\n    ".join(describe_input(entry)) for entry in plan["inputs"])
