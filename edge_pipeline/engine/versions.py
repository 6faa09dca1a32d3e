"""Installed tool versions, read from package metadata (nothing is imported): part of every cache
key and manifest. The backends' packages come from their registry rows."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from edge_pipeline.backends.registry import tracked_packages

CORE_TOOLS = ("edge-pipeline", "torch", "onnx", "onnxscript", "onnxslim", "torch-pruning", "numpy")


def tool_versions() -> dict[str, str]:
    found = {}
    for name in dict.fromkeys([*CORE_TOOLS, *tracked_packages()]):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
