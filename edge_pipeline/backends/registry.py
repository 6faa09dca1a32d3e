"""The backend registry: one row per backend, holding every fact about it as data.

A row names the backend class and everything the rest of the tool asks about a backend without
importing it: which files it runs (suffixes, folders, sidecar files), which pip extras install
it (full and device-only), which packages' versions go into manifests and host fingerprints, its
runtime variants (the default one and the FP32 references), its typed target options, and the
benchmark CLI flags it adds. Adding a backend = one subpackage + one ``register_backend`` call.
Modules named here are imported on first use, so ``import edge_pipeline`` needs no runtime.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_pipeline.errors import BackendUnavailableError, ConfigError


@dataclass(frozen=True)
class ArtifactFormat:
    """One kind of file (or folder) a backend runs or ships."""

    kind: str  # the Artifact record's kind, e.g. "openvino-ir"
    suffixes: tuple[str, ...]  # name endings; the longest match wins (".with_runtime_opt.ort" over ".ort")
    # Files that travel with it, written as suffix replacements (".bin" for an IR's .xml) or, with a
    # leading "+", appended to the full name ("+.data" for an ONNX file's external data).
    sidecars: tuple[str, ...] = ()
    required_sidecars: tuple[str, ...] = ()  # of those, the ones without which it cannot load
    directory: bool = False  # the artifact is a folder (a CoreML .mlpackage, a device bundle)
    timed: bool = True  # False: shipped only (a device bundle, a statistics file), never benchmarked
    # True: laid out for the device's own kernels (an ORT-format model optimised for arm64). On a host
    # without the target's instruction set its time says nothing of the device, and the quantize
    # stage's fidelity check has already run it: benchmark.device_formats_on_host says what to do.
    device_kernels: bool = False
    runtime_module: str | None = None  # runs in another runtime than the backend's (TensorRT's Q/DQ ONNX in ORT)
    runtime_extra: str | None = None  # the device extra that installs that runtime

    def sidecar_paths(self, path: Path) -> list[Path]:
        return [_sidecar(path, spec) for spec in self.sidecars]


def _sidecar(path: Path, spec: str) -> Path:
    return Path(str(path) + spec[1:]) if spec.startswith("+") else path.with_suffix(spec)


@dataclass(frozen=True)
class OptionalFeature:
    """A part of a backend needing more than its probe modules; missing, that part alone is skipped."""

    name: str
    modules: tuple[str, ...]
    fix: str


@dataclass(frozen=True)
class BackendDescriptor:
    name: str
    backend: str  # "module:Class" implementing backends.base.Backend
    extra: str  # pip extra that installs what making its artifacts needs
    device_extra: str  # pip extra with the runtime alone (what a device installs to benchmark)
    runtime_module: str  # imported to tell whether the runtime is installed
    probe_modules: tuple[str, ...]  # imported to tell whether making artifacts works here
    packages: tuple[str, ...]  # distributions whose versions manifests and host fingerprints record
    formats: tuple[ArtifactFormat, ...]
    options: str | None = None  # "module:Model": the pydantic model of a target's `options` (no runtime import)
    default_variant: str = "default"  # the runtime mode a file is benchmarked in unless told otherwise
    reference_variants: tuple[str, ...] = ("default",)  # modes whose FP32 rows are the honest baseline
    simulated_variants: tuple[str, ...] = ()  # modes timed in a stand-in runtime: never a device figure
    # Modes whose runner reads none of the target's options (TensorRT's Q/DQ ONNX simulated in ONNX
    # Runtime's CPU provider): the same file, timing settings and host give the same measurement
    # whichever target asked, so the benchmark stage measures it once for all of them.
    target_free_variants: tuple[str, ...] = ()
    cli_arguments: str | None = None  # "module:function(parser) -> None" adding `benchmark` flags
    sweeps: tuple[str, ...] = ()  # benchmark dimensions its runner takes beyond batch x threads ("streams")
    optional_features: tuple[OptionalFeature, ...] = field(default_factory=tuple)
    # True: its artifacts are lowered from the torch.export program the export stage then writes beside
    # each FP32 ONNX (<model>.fp32.pt2, same static shapes), not converted from the ONNX (ExecuTorch).
    torch_program: bool = False

    def format_of(self, kind: str) -> ArtifactFormat | None:
        return next((f for f in self.formats if f.kind == kind), None)

    @property
    def suffixes(self) -> list[str]:
        return [s for f in self.formats for s in f.suffixes]


BACKENDS: dict[str, BackendDescriptor] = {}


def register_backend(descriptor: BackendDescriptor) -> None:
    BACKENDS[descriptor.name] = descriptor


def descriptor(name: str) -> BackendDescriptor:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend '{name}'; registered backends: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def descriptor_record(name: str) -> dict:
    """A row as JSON-able data, for a worker process that must know a backend registered at run time."""
    return dataclasses.asdict(descriptor(name))


def register_record(record: dict) -> None:
    """Register a row sent by ``descriptor_record`` unless this process already has one by that name."""
    if record["name"] in BACKENDS:
        return
    formats = tuple(ArtifactFormat(**_lists_to_tuples(f)) for f in record["formats"])
    features = tuple(OptionalFeature(f["name"], tuple(f["modules"]), f["fix"]) for f in record["optional_features"])
    plain = _lists_to_tuples({k: v for k, v in record.items() if k not in ("formats", "optional_features")})
    register_backend(BackendDescriptor(**plain, formats=formats, optional_features=features))


def _lists_to_tuples(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON turned the row's tuples into lists; the frozen dataclasses hold tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


def backend_package(row: BackendDescriptor) -> str:
    """The package holding the row's backend class ('' for a top-level module)."""
    return row.backend.partition(":")[0].rpartition(".")[0]


def import_runtime(module: str, rows: list[BackendDescriptor] | None = None) -> Any:
    """``module`` imported after the packages of the backends that run it (``rows``, else every row
    whose runtime or file format names it). A backend's package sets its runtime up before the
    runtime loads: the ONNX Runtime and OpenVINO packages switch the runtimes' telemetry off, which
    both read once, at import."""
    if rows is None:
        rows = [row for row in BACKENDS.values()
                if module in {row.runtime_module, *(f.runtime_module for f in row.formats)}]
    for row in rows:
        if backend_package(row):
            importlib.import_module(backend_package(row))
    return importlib.import_module(module)


def import_reference(reference: str) -> Any:
    module_name, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def install_hint(name: str) -> str:
    return f"pip install 'edge-pipeline[{descriptor(name).extra}]'"


def device_install_hint(name: str) -> str:
    return f"pip install 'edge-pipeline[{descriptor(name).device_extra}]'"


def probe(name: str) -> tuple[bool, str]:
    """(available, reason) without raising: used by `doctor` and by tests that skip."""
    row = descriptor(name)
    for module in row.probe_modules:
        try:
            import_runtime(module, [row])
        except Exception as exc:  # noqa: BLE001 - a broken install is as unavailable as a missing one
            return False, (f"{module} not importable ({exc.__class__.__name__}: {exc}); "
                           f"install with: {install_hint(name)}")
    return True, "ok"


def installed(name: str) -> bool:
    """Whether every probe module is installed, without importing them: a run's settings check uses
    this, since importing NNCF alone takes seconds that a cached re-run never needs. A broken install
    still fails where the backend is used, as a missing one does."""
    return all(importlib.util.find_spec(module) is not None for module in descriptor(name).probe_modules)


def probe_optional_features(name: str) -> list[tuple[str, bool, str]]:
    """(feature, available, "ok" or "skipped: <module> not installed; fix: ...") per optional part."""
    found = []
    for feature in descriptor(name).optional_features:
        missing = [m for m in feature.modules if importlib.util.find_spec(m) is None]
        reason = f"skipped: {missing[0]} not installed; fix: {feature.fix}" if missing else "ok"
        found.append((feature.name, not missing, reason))
    return found


def get_backend(name: str):
    """The backend object for making artifacts: every probe module must import."""
    require_importable(name)
    return backend_object(name)


def backend_for_steps(name: str):
    """The backend object for a stage whose steps may all be cached: its probe modules must be
    installed (looked up, not imported: NNCF alone imports in a second a warm re-run never needs).
    The engine calls ``require_importable`` before a step of the backend runs, so a broken install
    fails there as get_backend's would."""
    if not installed(name):
        require_importable(name)  # names the missing module and the extra to install
    return backend_object(name)


@functools.cache
def require_importable(name: str) -> None:
    available, reason = probe(name)
    if not available:
        raise BackendUnavailableError(f"backend '{name}' is unavailable: {reason}")


def backend_object(name: str):
    """The backend object without the probe's imports (see ``installed``): for checking settings."""
    return import_reference(descriptor(name).backend)()


def load_runtime_backend(name: str, artifact: str = ""):
    """The backend object for *running* ``artifact``: only its runtime must import (a device install)."""
    row = descriptor(name)
    runtime, hint = row.runtime_module, device_install_hint(name)
    artifact_format = format_for_path(row, Path(artifact)) if artifact else None
    if artifact_format is not None and artifact_format.runtime_module:
        runtime = artifact_format.runtime_module
        hint = f"pip install 'edge-pipeline[{artifact_format.runtime_extra or row.device_extra}]'"
    for_what = f" to run {artifact}" if artifact else ""
    try:
        import_runtime(runtime, [row])
    except Exception as exc:
        raise BackendUnavailableError(
            f"{runtime} is needed{for_what} but does not import ({exc.__class__.__name__}: {exc}); "
            f"install it with: {hint}"
        ) from exc
    try:
        return import_reference(row.backend)()
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the {name} backend{for_what} needs {exc.name or exc}, which is not installed; install it with: {hint}"
        ) from exc


def format_for_path(row: BackendDescriptor, path: Path) -> ArtifactFormat | None:
    matches = [(len(s), f) for f in row.formats for s in f.suffixes if path.name.lower().endswith(s)]
    return max(matches, key=lambda m: m[0])[1] if matches else None


def detect(path: Path) -> tuple[BackendDescriptor, ArtifactFormat]:
    """The backend and format of an artifact file or folder, by its name; its sidecars must exist."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"artifact {path} does not exist; pass a model file ({', '.join(known_suffixes())})")
    # A format run in a stand-in runtime (TensorRT's Q/DQ ONNX in ONNX Runtime) belongs to the
    # runtime that runs it: a bare .onnx file is ONNX Runtime's.
    matches = [(len(s), row, f) for row in BACKENDS.values() for f in row.formats for s in f.suffixes
               if f.timed and f.runtime_module is None and path.name.lower().endswith(s)]
    if not matches:
        raise ConfigError(
            f"cannot tell the runtime of {path}: '{path.suffix}' is not a recognised artifact format; "
            f"use one of {known_suffixes()}"
        )
    _, row, found = max(matches, key=lambda m: m[0])
    if found.directory != path.is_dir():
        raise ConfigError(f"{path}: a {found.kind} artifact is a {'folder' if found.directory else 'file'}")
    for spec in found.required_sidecars:
        sidecar = _sidecar(path, spec)
        if not sidecar.is_file():
            raise ConfigError(
                f"{path} ({found.kind}) cannot load without {sidecar.name}: {sidecar.name} must sit beside it"
            )
    return row, found


def known_suffixes() -> list[str]:
    return sorted({s for row in BACKENDS.values() for f in row.formats if f.timed and f.runtime_module is None
                   for s in f.suffixes})


def artifact_sidecars(backend: str | None, kind: str, path: Path) -> list[Path]:
    """Existing files that belong with an artifact (an IR's .bin, an ONNX file's external data)."""
    rows = [descriptor(backend)] if backend in BACKENDS else list(BACKENDS.values())
    # An artifact of no backend (the exported ONNX) takes the first row that knows its kind.
    found = next((f for row in rows if (f := row.format_of(kind)) is not None), None)
    return [p for p in (found.sidecar_paths(Path(path)) if found else []) if p.is_file()]


def typed_options(target, where: str | None = None) -> Any:
    """A target's ``options`` validated by its backend's options model (the dict when it has none);
    ``where`` names the setting errors blame (default: the target's options)."""
    from pydantic import ValidationError

    from edge_pipeline.config.loader import format_validation_error

    row = descriptor(target.backend)
    if row.options is None:
        return target.options
    model = import_reference(row.options)
    try:
        return model.model_validate(target.options or {})
    except ValidationError as exc:
        where = where or f"target {target.metadata.name} options"
        raise ConfigError(f"{format_validation_error(exc, where)}; {row.name} options are: "
                          f"{', '.join(model.model_fields)}") from exc


def tracked_packages() -> list[str]:
    return [p for row in BACKENDS.values() for p in row.packages]


register_backend(BackendDescriptor(
    name="onnxruntime",
    backend="edge_pipeline.backends.onnxruntime.backend:OnnxRuntimeBackend",
    extra="onnxruntime",
    device_extra="device-onnxruntime",
    runtime_module="onnxruntime",
    probe_modules=("onnxruntime",),
    packages=("onnxruntime", "onnxruntime-gpu", "onnx"),
    formats=(
        ArtifactFormat("onnx", (".onnx",), sidecars=("+.data",)),
        ArtifactFormat("ort", (".ort", ".with_runtime_opt.ort"), device_kernels=True),
        ArtifactFormat("ort-required-operators", (), timed=False),
        ArtifactFormat("ort-ep-usability", (), timed=False),
    ),
    options="edge_pipeline.backends.onnxruntime.options:OnnxRuntimeOptions",
    cli_arguments="edge_pipeline.backends.onnxruntime.cli:add_arguments",  # --provider
))
register_backend(BackendDescriptor(
    name="openvino",
    backend="edge_pipeline.backends.openvino.backend:OpenVinoBackend",
    extra="openvino",
    device_extra="device-openvino",
    runtime_module="openvino",
    probe_modules=("openvino", "nncf"),
    packages=("openvino", "nncf"),
    formats=(ArtifactFormat("openvino-ir", (".xml",), sidecars=(".bin",), required_sidecars=(".bin",)),),
    options="edge_pipeline.backends.openvino.options:OpenVinoOptions",
    # The CPU plugin silently runs bf16 where the CPU has it: f32 is the honest FP32 baseline.
    default_variant="f32",
    reference_variants=("f32",),
    cli_arguments="edge_pipeline.backends.openvino.cli:add_arguments",
    sweeps=("streams",),
))
# The TensorRT backend makes its Q/DQ ONNX and Jetson bundle with onnx + onnxruntime alone; only
# building and timing engines needs TensorRT itself (and a GPU).
register_backend(BackendDescriptor(
    name="tensorrt",
    backend="edge_pipeline.backends.tensorrt.backend:TensorRtBackend",
    extra="tensorrt",
    device_extra="tensorrt",
    runtime_module="tensorrt",
    probe_modules=("onnx", "onnxruntime"),
    packages=("tensorrt", "cuda-python"),
    formats=(
        ArtifactFormat("tensorrt-engine", (".engine", ".plan")),
        ArtifactFormat("onnx", (".onnx",), sidecars=("+.data",), runtime_module="onnxruntime",
                       runtime_extra="device-onnxruntime"),
        ArtifactFormat("tensorrt-device-bundle", (), directory=True, timed=False),
        ArtifactFormat("calibration-statistics", (), timed=False),
    ),
    options="edge_pipeline.backends.tensorrt.options:TensorRtOptions",
    reference_variants=("ort-simulated", "tensorrt"),
    simulated_variants=("ort-simulated",),
    target_free_variants=("ort-simulated",),
    optional_features=(OptionalFeature(
        "engine build and benchmark",
        ("tensorrt",),
        "on an NVIDIA GPU host: pip install 'edge-pipeline[tensorrt]' (TensorRT 10.x/11.x, cuda-python); "
        "on Jetson run the bundle's build_and_benchmark.py",
    ),),
))
# ExecuTorch lowers the torch.export program (no ONNX round trip); its Python runtime needs torch.
register_backend(BackendDescriptor(
    name="executorch",
    backend="edge_pipeline.backends.executorch.backend:ExecuTorchBackend",
    extra="executorch",
    device_extra="device-executorch",
    # Its own module binding the runtime extension: executorch.runtime imports the whole exporter.
    runtime_module="edge_pipeline.backends.executorch.runtime",
    # Top-level names first: ``installed`` looks them up in order, and a dotted name's parent must exist.
    probe_modules=("executorch", "torchao", "executorch.exir", "torchao.quantization.pt2e.quantize_pt2e",
                   "executorch.extension.pybindings._C"),
    packages=("executorch", "torchao"),
    # A .pte carries no tensor names: the .pte.json beside it holds them and the delegation report.
    formats=(ArtifactFormat("executorch-pte", (".pte",), sidecars=("+.json",), required_sidecars=("+.json",)),),
    options="edge_pipeline.backends.executorch.options:ExecuTorchOptions",
    torch_program=True,
))
