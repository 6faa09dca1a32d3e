"""Load a backend for *running* artifacts, probing only its runtime package.

The registry's ``get_backend`` also probes the export/quantization tooling (nncf for OpenVINO);
a device that only times artifacts has just the runtime, so the benchmark path asks for that
alone and names the device extra that installs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from edge_pipeline.errors import BackendUnavailableError, ConfigError


@dataclass(frozen=True)
class RuntimeEntry:
    module: str  # imported to tell whether the runtime is installed
    device_extra: str  # pip extra with the runtime alone
    # Artifacts this backend runs in another runtime, by file suffix: the TensorRT backend times
    # its Q/DQ ONNX in ONNX Runtime ("ort-simulated") and only .engine files in TensorRT.
    module_by_suffix: tuple[tuple[str, str, str], ...] = ()  # (suffix, module, device extra)


RUNTIMES = {
    "onnxruntime": RuntimeEntry("onnxruntime", "device-onnxruntime"),
    "openvino": RuntimeEntry("openvino", "device-openvino"),
    "tensorrt": RuntimeEntry("tensorrt", "tensorrt", ((".onnx", "onnxruntime", "device-onnxruntime"),)),
}


def device_install_hint(name: str) -> str:
    return f"pip install 'edge-pipeline[{RUNTIMES[name].device_extra}]'"


def load_runtime_backend(name: str, artifact: str = ""):
    """The backend object for ``name`` after checking that its runtime imports."""
    from edge_pipeline.backends.registry import BACKENDS

    if name not in RUNTIMES or name not in BACKENDS:
        raise ConfigError(f"no runtime registered as '{name}'; known: {sorted(RUNTIMES)}")
    for_what = f" to run {artifact}" if artifact else ""
    runtime, hint = RUNTIMES[name].module, device_install_hint(name)
    for suffix, module, extra in RUNTIMES[name].module_by_suffix:
        if artifact.endswith(suffix):
            runtime, hint = module, f"pip install 'edge-pipeline[{extra}]'"
    try:
        importlib.import_module(runtime)
    except Exception as exc:  # noqa: BLE001 - a broken install is as unavailable as a missing one
        raise BackendUnavailableError(
            f"{runtime} is needed{for_what} but does not import ({exc.__class__.__name__}: {exc}); "
            f"install it with: {hint}"
        ) from None
    module_name, _, class_name = BACKENDS[name].reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the {name} backend{for_what} needs {exc.name or exc}, which is not installed; "
            f"install it with: {device_install_hint(name)}"
        ) from None
    return getattr(module, class_name)()
