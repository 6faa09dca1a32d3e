"""Backend registry: names map to 'module:Class' and import only when first asked for."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from edge_pipeline.errors import BackendUnavailableError, ConfigError


@dataclass(frozen=True)
class BackendEntry:
    name: str
    reference: str  # "module:Class"
    extra: str  # pip extra
    probe_modules: tuple[str, ...]  # imported to tell whether the runtime is installed
    # Parts of a backend that need more than probe_modules: (feature, modules, fix). Missing ones
    # skip that part only (recorded as "skipped: ..."), e.g. TensorRT engines without `tensorrt`.
    optional_features: tuple[tuple[str, tuple[str, ...], str], ...] = ()


BACKENDS: dict[str, BackendEntry] = {}


def register_backend(entry: BackendEntry) -> None:
    BACKENDS[entry.name] = entry


register_backend(
    BackendEntry("onnxruntime", "edge_pipeline.backends.onnxruntime.backend:OnnxRuntimeBackend", "onnxruntime", ("onnxruntime",))
)
register_backend(
    BackendEntry("openvino", "edge_pipeline.backends.openvino.backend:OpenVinoBackend", "openvino", ("openvino", "nncf"))
)
# The TensorRT backend makes its Q/DQ ONNX and Jetson bundle with onnx + onnxruntime alone; only
# building and timing engines needs TensorRT itself (and a GPU).
register_backend(
    BackendEntry(
        "tensorrt",
        "edge_pipeline.backends.tensorrt.backend:TensorRtBackend",
        "onnxruntime",
        ("onnx", "onnxruntime"),
        (
            (
                "engine build and benchmark",
                ("tensorrt",),
                "on an NVIDIA GPU host: pip install 'edge-pipeline[tensorrt]' (TensorRT 10.x/11.x, cuda-python); "
                "on Jetson run the bundle's build_and_benchmark.py",
            ),
        ),
    )
)


def install_hint(name: str) -> str:
    return f"pip install 'edge-pipeline[{BACKENDS[name].extra}]' -c constraints.txt"


def probe(name: str) -> tuple[bool, str]:
    """(available, reason) without raising: used by `doctor` and by tests that skip."""
    entry = _entry(name)
    for module in entry.probe_modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a broken install is as unavailable as a missing one
            return False, f"{module} not importable ({exc.__class__.__name__}: {exc}); install with: {install_hint(name)}"
    return True, "ok"


def probe_optional_features(name: str) -> list[tuple[str, bool, str]]:
    """(feature, available, "ok" or "skipped: <module> not installed; fix: ...") per optional part."""
    found = []
    for feature, modules, fix in _entry(name).optional_features:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        reason = f"skipped: {missing[0]} not installed; fix: {fix}" if missing else "ok"
        found.append((feature, not missing, reason))
    return found


def get_backend(name: str):
    entry = _entry(name)
    available, reason = probe(name)
    if not available:
        raise BackendUnavailableError(f"backend '{name}' is unavailable: {reason}")
    module_name, _, class_name = entry.reference.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def _entry(name: str) -> BackendEntry:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend '{name}'; registered backends: {', '.join(BACKENDS)}")
    return BACKENDS[name]
