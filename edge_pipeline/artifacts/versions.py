"""Installed tool versions, read from package metadata (nothing is imported)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

TRACKED = (
    "edge-pipeline",
    "torch",
    "onnx",
    "onnxscript",
    "onnxslim",
    "onnxruntime",
    "openvino",
    "nncf",
    "torch-pruning",
    "tensorrt",
    "numpy",
)


def tool_versions() -> dict[str, str]:
    found = {}
    for name in TRACKED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
