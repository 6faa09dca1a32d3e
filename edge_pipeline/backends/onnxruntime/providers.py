"""ONNX Runtime execution providers by short name, and the check that the installed runtime has them.

Kept free of an onnxruntime import at module level: the benchmark CLI parses `--provider` and a
target's ``options.providers`` is validated on machines without the runtime.
"""

from __future__ import annotations

from edge_pipeline.errors import BackendUnavailableError, ConfigError

# Short name -> ORT's provider name, in the order `--help` lists them.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "acl": "ACLExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
    "azure": "AzureExecutionProvider",
}

# What installs each provider: the plain `onnxruntime` wheel has the CPU one (and Azure) only.
_INSTALL = {
    "CUDAExecutionProvider": "pip install onnxruntime-gpu (in place of onnxruntime; needs CUDA 12 and cuDNN 9)",
    "TensorrtExecutionProvider": "pip install onnxruntime-gpu and the TensorRT libraries (pip install tensorrt)",
    "XnnpackExecutionProvider": "an ORT build with XNNPACK (onnxruntime-android, the iOS pod, or --use_xnnpack)",
    "NnapiExecutionProvider": "onnxruntime-android on an Android device",
    "CoreMLExecutionProvider": "the onnxruntime wheel on macOS or the iOS pod",
    "OpenVINOExecutionProvider": "pip install onnxruntime-openvino",
    "DmlExecutionProvider": "pip install onnxruntime-directml (Windows)",
    "ROCMExecutionProvider": "an onnxruntime build for ROCm (AMD GPUs)",
    "MIGraphXExecutionProvider": "pip install onnxruntime-migraphx",
    "QNNExecutionProvider": "pip install onnxruntime-qnn (Qualcomm devices)",
    "ACLExecutionProvider": "an ORT build with the Arm Compute Library (--use_acl)",
    "WebGpuExecutionProvider": "an ORT build with WebGPU (--use_webgpu)",
}


def canonical(name: str) -> str:
    """ORT's name for a provider given by short name ('cuda') or full name, any case."""
    text = name.strip()
    by_lower = {full.lower(): full for full in PROVIDERS.values()}
    found = PROVIDERS.get(text.lower()) or by_lower.get(text.lower())
    if found is not None:
        return found
    if text.endswith("ExecutionProvider"):
        return text  # a provider of a newer or custom ORT build: the runtime itself judges it
    raise ConfigError(f"unknown execution provider '{name}'; use one of {', '.join(PROVIDERS)} "
                      "or an ONNX Runtime name such as CUDAExecutionProvider")


def parse_providers(values: list[str] | str) -> list[str]:
    """Names (each may be a comma list) as ORT's provider names, in priority order, repeats dropped."""
    items = [values] if isinstance(values, str) else list(values)
    names = [canonical(part) for item in items for part in item.split(",") if part.strip()]
    if not names:
        raise ConfigError("name at least one execution provider, e.g. cpu or cuda,cpu")
    return list(dict.fromkeys(names))


def requested_providers(settings: dict | None) -> list[str]:
    """The providers a runner's settings ask for (a target's options.providers); CPU when none."""
    given = (settings or {}).get("providers")
    return parse_providers(given) if given else ["CPUExecutionProvider"]


def check_available(requested: list[str], available: list[str]) -> None:
    """A provider this runtime lacks is a missing runtime feature: one line naming what is here and the fix."""
    missing = [name for name in requested if name not in available]
    if missing:
        fixes = [_INSTALL.get(name, "an onnxruntime build that includes it") for name in missing]
        fixes = [f"{name}: {fix}" for name, fix in zip(missing, fixes, strict=True)] if len(missing) > 1 else fixes
        raise BackendUnavailableError(
            f"execution provider {', '.join(missing)} is not in this ONNX Runtime (available: "
            f"{', '.join(short_name(a) for a in available)}); install it with: {'; '.join(fixes)}"
        )


def check_installed(requested: list[str]) -> None:
    """``check_available`` against the onnxruntime this process imports (before any file is timed)."""
    try:
        import onnxruntime
    except ImportError:
        return  # the worker reports the missing runtime itself, with its install command
    check_available(requested, onnxruntime.get_available_providers())


def check_assigned(requested: list[str], assigned: list[str], artifact: str) -> None:
    """ORT drops a provider whose libraries fail to load (CUDA without cuDNN) with only a warning:
    timing that session under the provider's name would be a CPU figure labelled as a GPU one."""
    dropped = [name for name in requested if name not in assigned]
    if dropped:
        raise BackendUnavailableError(
            f"{artifact}: ONNX Runtime could not start {', '.join(dropped)} (its libraries did not load) and "
            f"fell back to {', '.join(assigned)}; install the provider's libraries "
            f"({_INSTALL.get(dropped[0], 'see the ONNX Runtime provider docs')}) or drop it from --provider"
        )


def short_name(name: str) -> str:
    """'CUDAExecutionProvider' -> 'cuda'; a provider without a short name keeps ORT's."""
    short = {full: key for key, full in PROVIDERS.items()}
    return short.get(name, name)
