#!/usr/bin/env python3
"""Build a TensorRT engine from the Q/DQ ONNX in this folder and benchmark it, on the device.

Self-contained: needs only TensorRT's Python package, numpy and a CUDA binding (cuda-python);
no torch, no edge_pipeline. Engines are not portable across GPUs or TensorRT versions, so the
engine is built here, named after this GPU's compute capability and the TensorRT version, and
re-used only when both match.

    python3 build_and_benchmark.py --dry-run     # print the build plan and a trtexec line
    python3 build_and_benchmark.py               # build (or re-use) the engine, then benchmark

The plan (profiles, workspace, optimization level, DLA core, timing cache) is bundle.json.
INT8 comes from the Q/DQ nodes in the ONNX (explicit quantization) in a strongly typed network:
no calibrator and no precision flags, which TensorRT 11 removed. This file is also imported by
edge_pipeline's TensorRT backend on x86 GPU hosts, so both paths build and time engines alike.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PLAN_FILE = "bundle.json"
# JetPack installs trtexec here, off PATH; one on PATH wins.
TRTEXEC_FALLBACK = "/usr/src/tensorrt/bin/trtexec"
TRTEXEC_TIMEOUT_S = 600
# The end-to-end line of trtexec's performance summary ("[I] Latency: min = ..., median = ... ms"),
# not "H2D Latency" or "GPU Compute Time": H2D + compute + D2H, as our p50.
_TRTEXEC_LATENCY = re.compile(r"\]\s+Latency: [^\n]*?median = ([0-9.eE+-]+) ms")


def load_plan(folder: Path) -> dict:
    plan = json.loads((Path(folder) / PLAN_FILE).read_text())
    if "inputs" not in plan:  # schema 1 held one "input"; this script reads the per-input list
        raise SystemExit(f"{PLAN_FILE} in {folder} predates this script (no 'inputs' list); write the bundle again")
    return plan


def shape_text(shape: list[int]) -> str:
    return "x".join(str(d) for d in shape)


def engine_file_name(model_file: str, model_sha256: str, compute_capability: str, trt_version: str) -> str:
    """e.g. model.int8.qdq.3f2a91c0.sm87.trt10.3.0.engine: never re-used across GPU or TensorRT."""
    stem = model_file.removesuffix(".onnx")
    return f"{stem}.{model_sha256[:8]}.sm{compute_capability}.trt{trt_version}.engine"


def trtexec_command(plan: dict, engine: str) -> str:
    """The same build with NVIDIA's trtexec (TensorRT 10.x flags; no --int8, Q/DQ sets precision)."""
    parts = [
        "trtexec",
        f"--onnx={plan['model']}",
        f"--saveEngine={engine}",
        "--stronglyTyped",
        f"--minShapes={profile_shapes(plan, 'min')}",
        f"--optShapes={profile_shapes(plan, 'opt')}",
        f"--maxShapes={profile_shapes(plan, 'max')}",
        f"--shapes={profile_shapes(plan, 'opt')}",
        f"--memPoolSize=workspace:{plan['workspace_mib']}M",
        f"--builderOptimizationLevel={plan['builder_optimization_level']}",
        f"--iterations={plan['benchmark']['iterations']}",
        "--separateProfileRun",
    ]
    if plan.get("timing_cache"):
        parts.append(f"--timingCacheFile={plan['timing_cache']}")
    if plan.get("dla_core") is not None:
        parts += [f"--useDLACore={plan['dla_core']}", "--allowGPUFallback"]
    return " ".join(parts)


def profile_shapes(plan: dict, which: str) -> str:
    """trtexec's shape list, every input as name:dims, comma-separated: "ids:1x16,mask:1x16"."""
    return ",".join(f"{entry['name']}:{shape_text(entry['profile'][which])}" for entry in plan["inputs"])


def describe_input(entry: dict) -> list[str]:
    """An input's dtype, the values the benchmark feeds it and its profile, for --dry-run and the README."""
    kind = np.dtype(entry["dtype"]).kind
    if kind in "iu":
        low, high = entry.get("value_range") or (0, 2)
        values = f"integers in [{low}, {high}) (range: {entry.get('value_range_source', 'default')})"
    else:
        values = "0/1" if kind == "b" else "standard normal"
    profile = entry["profile"]
    return [
        f"input:        {entry['name']} {entry['dtype']}, benchmark feeds {values}",
        f"profile:      min {shape_text(profile['min'])}  opt {shape_text(profile['opt'])}  "
        f"max {shape_text(profile['max'])}",
    ]


def describe_plan(plan: dict, folder: Path) -> list[str]:
    trt_version, capability = installed_tensorrt_version(), None
    if trt_version is not None:
        try:
            capability = compute_capability()
        except Exception as exc:  # noqa: BLE001 - a dry run reports, it does not fail
            capability = f"unknown ({exc.__class__.__name__})"
    engine = engine_file_name(plan["model"], plan["model_sha256"], capability or "<sm>", trt_version or "<trt>")
    dla = ("core " + str(plan["dla_core"]) + " with GPU fallback" if plan.get("dla_core") is not None
           else "off (GPU only)")
    lines = [
        f"model:        {plan['model']} (sha256 {plan['model_sha256'][:12]}...)",
        f"precision:    {plan['precision']} -- explicit Q/DQ in a strongly typed network, "
        "no calibrator, no precision flags",
        *(line for entry in plan["inputs"] for line in describe_input(entry)),
        f"workspace:    {plan['workspace_mib']} MiB",
        f"opt level:    {plan['builder_optimization_level']}",
        f"timing cache: {_timing_cache_state(plan, folder)}",
        f"DLA:          {dla}",
        f"benchmark:    batch sizes {plan['benchmark']['batch_sizes']}, warmup {plan['benchmark']['warmup']}, "
        f"iterations {plan['benchmark']['iterations']} (CUDA events; H2D, compute, D2H timed apart)",
        f"TensorRT:     {trt_version or 'not installed here (pip install tensorrt, or JetPack 6/7 ships it)'}",
        f"engine:       {engine}",
        "",
        "equivalent trtexec command:",
        "  " + trtexec_command(plan, engine),
    ]
    return lines


def _timing_cache_state(plan: dict, folder: Path) -> str:
    if not plan.get("timing_cache"):
        return "off"
    present = (folder / plan["timing_cache"]).is_file()
    return f"{plan['timing_cache']} ({'present, re-used' if present else 'created on first build, re-used after'})"


def installed_tensorrt_version() -> str | None:
    try:
        import tensorrt as trt
    except ImportError:
        return None
    return trt.__version__


# ---- CUDA (cuda-python) ------------------------------------------------------------------------


def cuda_runtime():
    """The CUDA runtime binding: cuda-python >= 12.6 moved it to cuda.bindings.runtime."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError as exc:
            raise SystemExit("no CUDA binding: pip install cuda-python (matching the device's CUDA major)") from exc
    return runtime


def cuda_call(result):
    """cuda-python returns (error, *values); raise on error, unwrap the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    code = getattr(error, "value", error)  # cudaError_t enum (or a plain int in old bindings)
    if code != 0:
        raise RuntimeError(f"CUDA error {code} ({error})")
    return values[0] if len(values) == 1 else values


def compute_capability(device: int = 0) -> str:
    cudart = cuda_runtime()
    major = cuda_call(cudart.cudaDeviceGetAttribute(cudart.cudaDeviceAttr.cudaDevAttrComputeCapabilityMajor, device))
    minor = cuda_call(cudart.cudaDeviceGetAttribute(cudart.cudaDeviceAttr.cudaDevAttrComputeCapabilityMinor, device))
    return f"{major}{minor}"


# ---- Engine build --------------------------------------------------------------------------------


def build_engine(onnx_path: Path, plan: dict, engine_path: Path, timing_cache_path: Path | None) -> dict:
    """Parse the Q/DQ ONNX into a strongly typed network and serialize an engine to ``engine_path``."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(plan["workspace_mib"]) << 20)
    config.builder_optimization_level = int(plan["builder_optimization_level"])
    known = timing_cache_path.read_bytes() if timing_cache_path is not None and timing_cache_path.is_file() else b""
    cache = config.create_timing_cache(known)
    config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    for entry in plan["inputs"]:  # one profile; every input gets its own shapes in it
        shapes = entry["profile"]
        profile.set_shape(entry["name"], tuple(shapes["min"]), tuple(shapes["opt"]), tuple(shapes["max"]))
    config.add_optimization_profile(profile)
    if plan.get("dla_core") is not None:
        # Layers DLA cannot run (or not in the Q/DQ types given) fall back to the GPU.
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(plan["dla_core"])
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(
            f"TensorRT failed to build an engine from {onnx_path}; rerun with trtexec --verbose to see why"
        )
    _write_bytes(engine_path, bytes(serialized))
    if timing_cache_path is not None:
        timing_cache_path.parent.mkdir(parents=True, exist_ok=True)
        _write_bytes(timing_cache_path, bytes(config.get_timing_cache().serialize()))
    return {"build_s": round(time.perf_counter() - started, 3), "engine_bytes": engine_path.stat().st_size}


def _network_flags(trt) -> int:
    # TensorRT 10: STRONGLY_TYPED makes the Q/DQ types authoritative. TensorRT 11 networks are
    # always strongly typed; where the flag is gone, 0 is the same request.
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _write_bytes(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


# ---- Execution and timing -----------------------------------------------------------------------


class EngineSession:
    """One engine, one execution context, one stream; buffers sized for the current input shape.

    ``run`` copies inputs host-to-device, executes and copies outputs back, with a CUDA event
    after each step, so H2D, compute and D2H are timed apart on the GPU's own clock.
    """

    def __init__(self, engine_path: Path):
        import tensorrt as trt

        self.trt, self.cudart = trt, cuda_runtime()
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{engine_path} does not deserialize: built for another GPU or TensorRT version")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if n not in self.input_names]
        self.stream = cuda_call(self.cudart.cudaStreamCreate())
        self.events = [cuda_call(self.cudart.cudaEventCreate()) for _ in range(4)]
        self.buffers: dict[str, tuple[int, int, np.ndarray]] = {}  # name -> (device ptr, host ptr, host view)
        self.shape: tuple | None = None
        self.timings: list[tuple[float, float, float]] = []  # (h2d, compute, d2h) ms per run

    def input_shape(self, name: str) -> tuple:
        return tuple(self.engine.get_tensor_shape(name))

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._prepare(feed)
        cudart, stream, (start, copied_in, computed, copied_out) = self.cudart, self.stream, self.events
        cuda_call(cudart.cudaEventRecord(start, stream))
        for name in self.input_names:
            device, host, view = self.buffers[name]
            np.copyto(view, feed[name], casting="same_kind")
            cuda_call(cudart.cudaMemcpyAsync(device, host, view.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                             stream))
        cuda_call(cudart.cudaEventRecord(copied_in, stream))
        if not self.context.execute_async_v3(int(stream)):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        cuda_call(cudart.cudaEventRecord(computed, stream))
        for name in self.output_names:
            device, host, view = self.buffers[name]
            cuda_call(cudart.cudaMemcpyAsync(host, device, view.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                             stream))
        cuda_call(cudart.cudaEventRecord(copied_out, stream))
        cuda_call(cudart.cudaEventSynchronize(copied_out))
        self.timings.append(
            (
                cuda_call(cudart.cudaEventElapsedTime(start, copied_in)),
                cuda_call(cudart.cudaEventElapsedTime(copied_in, computed)),
                cuda_call(cudart.cudaEventElapsedTime(computed, copied_out)),
            )
        )
        return [self.buffers[name][2].copy() for name in self.output_names]

    def _prepare(self, feed: dict[str, np.ndarray]) -> None:
        shape = tuple(tuple(feed[name].shape) for name in self.input_names)
        if shape == self.shape:
            return
        self._free()
        for name, dims in zip(self.input_names, shape, strict=True):
            if not self.context.set_input_shape(name, dims):
                profile = self.engine.get_tensor_profile_shape(name, 0)
                raise RuntimeError(
                    f"input {name} shape {dims} is outside the engine's profile (min, opt, max) {profile}"
                )
        for name in self.input_names + self.output_names:
            dims = tuple(self.context.get_tensor_shape(name))
            dtype = np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(name)))
            nbytes = max(int(np.prod(dims)) * dtype.itemsize, 1)
            device = cuda_call(self.cudart.cudaMalloc(nbytes))
            host = cuda_call(self.cudart.cudaMallocHost(nbytes))  # pinned, so H2D/D2H are true DMA copies
            raw = (ctypes.c_byte * nbytes).from_address(int(host))
            view = np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims))).reshape(dims)
            self.context.set_tensor_address(name, int(device))
            self.buffers[name] = (device, host, view)
        self.shape = shape

    def _free(self) -> None:
        for device, host, _ in self.buffers.values():
            self.cudart.cudaFree(device)
            self.cudart.cudaFreeHost(host)
        self.buffers = {}
        self.shape = None

    def close(self) -> None:
        self._free()
        for event in self.events:
            self.cudart.cudaEventDestroy(event)
        self.cudart.cudaStreamDestroy(self.stream)


def summarize(samples_ms: list[float]) -> dict:
    """The percentiles edge_pipeline reports for every backend (p50/p90/p99, mean, std, min, max)."""
    data = np.asarray(samples_ms, dtype=np.float64)
    return {
        "p50": float(np.percentile(data, 50)),
        "p90": float(np.percentile(data, 90)),
        "p99": float(np.percentile(data, 99)),
        "mean": float(data.mean()),
        "std": float(data.std(ddof=1)) if len(data) > 1 else 0.0,
        "min": float(data.min()),
        "max": float(data.max()),
        "n": int(len(data)),
    }


def synthetic_input(entry: dict, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Seeded data of the input's dtype: integers (token ids, masks) inside the plan's value_range,
    so an embedding lookup never reads out of bounds; booleans 0/1; floats standard normal."""
    shape, dtype = (batch, *entry["sample_shape"]), np.dtype(entry["dtype"])
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dtype)
    if dtype.kind in "iu":
        low, high = entry.get("value_range") or (0, 2)
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def synthetic_feed(plan: dict, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {entry["name"]: synthetic_input(entry, batch, rng) for entry in plan["inputs"]}


def benchmark_engine(engine_path: Path, plan: dict, batch_sizes: list[int]) -> list[dict]:
    session = EngineSession(engine_path)
    rows = []
    try:
        planned = {entry["name"] for entry in plan["inputs"]}
        unplanned = [name for name in session.input_names if name not in planned]
        if unplanned:
            raise RuntimeError(
                f"the engine takes inputs {unplanned} that {PLAN_FILE} does not list; write the bundle again"
            )
        for batch in batch_sizes:
            feed = synthetic_feed(plan, batch)
            for _ in range(plan["benchmark"]["warmup"]):
                session.run(feed)
            session.timings.clear()
            for _ in range(plan["benchmark"]["iterations"]):
                session.run(feed)
            h2d, compute, d2h = (list(column) for column in zip(*session.timings, strict=True))
            total = [a + b + c for a, b, c in session.timings]
            rows.append(
                {
                    "batch_size": batch,
                    "latency_ms": summarize(total),
                    "h2d_ms": summarize(h2d),
                    "compute_ms": summarize(compute),
                    "d2h_ms": summarize(d2h),
                    "throughput_per_s": batch * 1e3 / float(np.percentile(total, 50)),
                }
            )
    finally:
        session.close()
    return rows


# ---- trtexec's own figures ------------------------------------------------------------------------


def find_trtexec() -> str | None:
    found = shutil.which("trtexec")
    if found:
        return found
    return TRTEXEC_FALLBACK if os.access(TRTEXEC_FALLBACK, os.X_OK) else None


def add_trtexec_figures(trtexec: str | None, engine: Path, plan: dict, rows: list[dict]) -> dict:
    """NVIDIA's trtexec timing the same engine, per batch size: its median end-to-end latency as
    ``trtexec_ms`` on each row, beside our p50 (None, and the reason, where it is missing or failed)."""
    if trtexec is None:
        for row in rows:
            row["trtexec_ms"] = None
        return {"path": None, "note": f"trtexec not found (on PATH or at {TRTEXEC_FALLBACK})"}
    problems = []
    for row in rows:
        row["trtexec_ms"], problem = trtexec_median_ms(trtexec, engine, plan, row["batch_size"])
        if problem:
            problems.append(f"batch {row['batch_size']}: {problem}")
    return {"path": trtexec, "note": "; ".join(problems) or None}


def trtexec_median_ms(trtexec: str, engine: Path, plan: dict, batch: int) -> tuple[float | None, str | None]:
    shapes = ",".join(f"{entry['name']}:{shape_text([batch, *entry['sample_shape']])}" for entry in plan["inputs"])
    command = [trtexec, f"--loadEngine={engine}", f"--shapes={shapes}",
               f"--iterations={plan['benchmark']['iterations']}"]
    if plan.get("dla_core") is not None:
        command.append(f"--useDLACore={plan['dla_core']}")
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=TRTEXEC_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"trtexec did not finish ({exc.__class__.__name__})"
    found = _TRTEXEC_LATENCY.search(proc.stdout)
    if proc.returncode != 0 or found is None:
        lines = [line for line in (proc.stdout + proc.stderr).strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        return None, f"trtexec exited {proc.returncode} without a latency summary ({last})"
    return float(found.group(1)), None


# ---- Command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="print the build plan and a trtexec command; needs no TensorRT")
    parser.add_argument("--bundle-dir", type=Path, default=Path(__file__).resolve().parent,
                        help="folder holding bundle.json")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="override the plan's benchmark batch sizes")
    parser.add_argument("--rebuild", action="store_true", help="build even if a matching engine exists")
    args = parser.parse_args(argv)
    folder = args.bundle_dir
    plan = load_plan(folder)
    if args.dry_run:
        print("\n".join(describe_plan(plan, folder)))
        return 0
    return build_and_benchmark(plan, folder, args.batch_sizes or plan["benchmark"]["batch_sizes"], args.rebuild)


def build_and_benchmark(plan: dict, folder: Path, batch_sizes: list[int], rebuild: bool) -> int:
    trt_version = installed_tensorrt_version()
    if trt_version is None:
        print("TensorRT is not installed: JetPack 6/7 ships it, or pip install tensorrt; --dry-run works without it",
              file=sys.stderr)
        return 3
    onnx_path = folder / plan["model"]
    if hashlib.sha256(onnx_path.read_bytes()).hexdigest() != plan["model_sha256"]:
        print(f"{onnx_path} does not match the sha256 in {PLAN_FILE}; copy the bundle again", file=sys.stderr)
        return 2
    engine = folder / engine_file_name(plan["model"], plan["model_sha256"], compute_capability(), trt_version)
    report = {"tensorrt": trt_version, "compute_capability": compute_capability(), "engine": engine.name}
    if rebuild or not engine.is_file():
        print(f"building {engine.name} ...", flush=True)
        timing_cache = folder / plan["timing_cache"] if plan.get("timing_cache") else None
        report["build"] = build_engine(onnx_path, plan, engine, timing_cache)
    else:
        print(f"re-using {engine.name} (same GPU and TensorRT version)")
    report["results"] = benchmark_engine(engine, plan, batch_sizes)
    report["trtexec"] = add_trtexec_figures(find_trtexec(), engine, plan, report["results"])
    for row in report["results"]:
        lat, comp = row["latency_ms"], row["compute_ms"]
        trtexec = "" if row["trtexec_ms"] is None else f" | trtexec median {row['trtexec_ms']:.3f} ms"
        print(
            f"batch {row['batch_size']:>3}: "
            f"compute p50 {comp['p50']:.3f} ms p90 {comp['p90']:.3f} p99 {comp['p99']:.3f} | "
            f"H2D p50 {row['h2d_ms']['p50']:.3f} | D2H p50 {row['d2h_ms']['p50']:.3f} | "
            f"total p50 {lat['p50']:.3f} ms | {row['throughput_per_s']:.0f}/s{trtexec}"
        )
    results_path = folder / f"benchmark.sm{report['compute_capability']}.trt{trt_version}.json"
    _write_bytes(results_path, (json.dumps(report, indent=2) + "\n").encode())
    print(f"results: {results_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
