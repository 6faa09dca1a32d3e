"""OpenVINO CPU runner: the inference precision is always set explicitly and read back.

OpenVINO's CPU plugin silently runs float models in bf16 on CPUs that support it; a row labelled
FP32 must therefore compile with ``INFERENCE_PRECISION_HINT=f32``. After compiling, the runner
reads the precision the plugin actually chose and the per-layer runtime precisions, and refuses
to run when they contradict the requested variant.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

import numpy as np
import openvino as ov

from edge_pipeline.backends.base import ExecutedNode, InputInfo, LayerProfile, LayerTime, Runner, RunnerOptions
from edge_pipeline.backends.openvino.options import OpenVinoOptions, parse_options
from edge_pipeline.calibration.layout import feed_batch, join, samples
from edge_pipeline.errors import ConfigError, StageError

# Runtime variant -> INFERENCE_PRECISION_HINT. An INT8 IR's variant names the precision of the
# ops it leaves in floating point; its quantized ops run in int8 either way.
VARIANT_PRECISIONS = {"f32": "f32", "bf16": "bf16"}
_COMPUTE_LAYERS = {"Convolution", "Deconvolution", "FullyConnected", "MatMul", "GroupConvolution"}
_CORE: ov.Core | None = None


def core() -> ov.Core:
    """One Core per process: creating it loads the plugins (tens of ms)."""
    global _CORE
    if _CORE is None:
        _CORE = ov.Core()
    return _CORE


def cpu_supports_bf16() -> bool:
    return "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def compile_config(options: OpenVinoOptions, threads: int, precision: str, profile: bool = False) -> dict:
    config = {
        "PERFORMANCE_HINT": options.performance_hint.upper(),
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": precision,
    }
    if profile:
        config["PERF_COUNT"] = True  # per-layer counters: a little cost on every layer, so profiled runners only
    if options.num_streams is not None:
        config["NUM_STREAMS"] = options.num_streams
    elif options.performance_hint == "latency":
        config["NUM_STREAMS"] = 1
    return config


class OpenVinoRunner(Runner):
    def __init__(self, path: Path, options: RunnerOptions):
        super().__init__(path, options)
        self.settings = parse_options(options.settings, f"OpenVINO runner for {Path(path).name}")
        if options.variant not in VARIANT_PRECISIONS:
            raise ConfigError(
                f"OpenVINO runtime variant '{options.variant}' is unknown; use one of {sorted(VARIANT_PRECISIONS)}"
            )
        self.precision = VARIANT_PRECISIONS[options.variant]

    def load(self) -> None:
        config = compile_config(self.settings, self.options.threads, self.precision,
                                self.options.profile_prefix is not None)
        try:
            model = core().read_model(str(self.path))
            # Output names as the IR declares them: compiling can merge an inner tensor's name into an
            # output's ('/Transpose_output_0' beside 'scores'), and any one name would then be a guess.
            declared = [_port_name(port, f"output_{i}") for i, port in enumerate(model.outputs)]
            self.compiled = core().compile_model(model, "CPU", config)
        except Exception as exc:
            raise StageError(f"OpenVINO cannot load {self.path}: {str(exc).strip().splitlines()[0]}") from exc
        self._check_precision()
        self.request = self.compiled.create_infer_request()
        self._bound: dict[str, np.ndarray] = {}
        self._queue = None
        if self.settings.performance_hint == "throughput":
            self._queue = ov.AsyncInferQueue(self.compiled,
                                             self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._inputs = [_input_info(port) for port in self.compiled.inputs]
        self._outputs = declared

    def close(self) -> None:
        self._queue = self.request = self.compiled = None
        self._bound = {}


    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self._splits_batch(feed):
            return self._infer_async(feed)
        self._bind(feed)
        self.request.infer(share_outputs=True)  # one copy below, not a second inside infer
        return [np.array(self.request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))]

    def prepare(self, feed: dict[str, np.ndarray]):
        """The sync request's own ``infer`` on inputs bound once, as benchmark_app's loop runs it.

        The timed call passes no inputs (they are bound here, shared with the caller's arrays) and
        shares the outputs: ``InferRequest.infer()`` otherwise copies every output into new numpy
        arrays on each call, which benchmark_app never does (measured here, our clock minus
        OpenVINO's per call: 12 -> 8 us with a 64 KB output, 150 -> 44 us with 1 MB; 2-core AVX2 VM)."""
        self._check_feed(feed)
        if self._splits_batch(feed):
            return lambda: self._infer_async(feed)
        self._bind(feed)
        return partial(self.request.infer, share_outputs=True)

    def has_runtime_clock(self, feed: dict[str, np.ndarray]) -> bool:
        return not self._splits_batch(feed)  # the sync request's timer; async batches use several requests

    def runtime_latency_ms(self) -> float:
        return float(self.request.latency)

    def profile_layers(self, feed: dict[str, np.ndarray], warmup: int, runs: int) -> LayerProfile | None:
        """The CPU plugin's performance counters, summed over ``runs`` sync inferences. They describe
        one request's last inference, so a throughput-mode batch is profiled as one request too."""
        if self.options.profile_prefix is None:
            raise StageError(f"{self.path.name}: profile_layers needs a runner loaded with profile_prefix")
        self._check_feed(feed)
        self._bind(feed)
        for _ in range(warmup):
            self.request.infer()
        totals: dict[str, list] = {}
        for _ in range(runs):
            self.request.infer()
            for info in self.request.profiling_info:
                if info.status != ov.ProfilingInfo.Status.EXECUTED:
                    continue  # fused into a neighbour or a no-op (Parameter, Result, Reshape)
                entry = totals.setdefault(info.node_name, [info.node_type, info.exec_type, 0.0])
                entry[2] += info.real_time.total_seconds() * 1e3
        return LayerProfile([LayerTime(name, op, round(ms, 6), kernel, _kernel_precision(kernel))
                             for name, (op, kernel, ms) in totals.items()], runs)

    def executed_graph(self) -> list[ExecutedNode] | None:
        """The CPU plugin's runtime model of this compiled model: its node names are the ones the
        performance counters report; a compute layer's aliases are its originalLayersNames (the IR
        operations fused into it, which carry the ONNX node's name or its output tensor's)."""
        nodes = []
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            layer_type = info["layerType"].astype(str)
            compute = layer_type in _COMPUTE_LAYERS
            precision = ("int8" if info["runtimePrecision"].astype(str) in ("i8", "u8") else "float") if compute else ""
            aliases = tuple(n for n in info["originalLayersNames"].astype(str).split(",") if n) if compute else ()
            inputs = tuple(dict.fromkeys(port.get_source_output().get_node().get_friendly_name()
                                         for port in op.inputs()))
            nodes.append(ExecutedNode(op.get_friendly_name(), layer_type, inputs, precision, aliases))
        return nodes

    def _splits_batch(self, feed: dict[str, np.ndarray]) -> bool:
        """Throughput mode splits a batch over requests along each tensor's batch axis; a feed with an
        input fed whole (a scalar) or an output without a batch axis cannot be split."""
        layout = self.options.layout
        if self._queue is None or self.fixed_batch() is not None or layout.one_at_a_time:
            return False
        if any(layout.output_axis(name) is None for name in self.output_names):
            return False
        return all(np.ndim(value) > 0 for value in feed.values()) and (feed_batch(feed, layout) or 0) > 1

    def _bind(self, feed: dict[str, np.ndarray]) -> None:
        """Share the caller's arrays with the request, re-binding only when they are other arrays.

        A timing loop that feeds the same batch then costs what benchmark_app's inference-only
        loop costs: the inference and one copy of the outputs. Holding the arrays keeps them alive,
        so an unchanged identity means unchanged memory.
        """
        if self._bound.keys() == feed.keys() and all(self._bound[k] is v and v.flags.c_contiguous
                                                     for k, v in feed.items()):
            return
        for name, value in feed.items():
            # np.require, not np.ascontiguousarray: that turns a 0-d scalar input into shape (1,).
            self.request.set_tensor(name, ov.Tensor(np.require(value, requirements="C"), shared_memory=True))
        self._bound = dict(feed)

    def _infer_async(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Throughput mode: split the batch over the optimal number of parallel infer requests."""
        layout = self.options.layout
        batch = feed_batch(feed, layout) or 1
        parts = min(len(self._queue), batch)
        bounds = np.linspace(0, batch, parts + 1, dtype=int)
        outputs: dict[int, list[np.ndarray]] = {}

        def collect(request, index):
            outputs[index] = [np.array(request.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))]

        self._queue.set_callback(collect)
        for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            self._queue.start_async({name: np.ascontiguousarray(samples(value, start, stop, layout.input_axis(name)))
                                     for name, value in feed.items()}, index)
        self._queue.wait_all()
        return [join([outputs[i][o] for i in range(parts)], layout.output_axis(name))
                for o, name in enumerate(self.output_names)]

    def runtime_info(self) -> dict:
        """What the plugin actually compiled: precision, hint, streams, threads, layer precisions."""
        return {
            "inference_precision": _precision_name(self.compiled.get_property("INFERENCE_PRECISION_HINT")),
            "performance_hint": str(self.compiled.get_property("PERFORMANCE_HINT")),
            "num_streams": int(self.compiled.get_property("NUM_STREAMS")),
            "inference_num_threads": int(self.compiled.get_property("INFERENCE_NUM_THREADS")),
            "infer_requests": len(self._queue) if self._queue is not None else 1,
            "compute_layer_precisions": dict(self.compute_layer_precisions()),
            "compute_layer_kernels": dict(self.compute_layer_kernels()),
        }

    def compute_layer_precisions(self) -> Counter:
        """Runtime precision of each convolution / matmul in the compiled graph, counted."""
        return self._count_compute_layers("runtimePrecision")

    def compute_layer_kernels(self) -> Counter:
        """The CPU plugin's kernel (primitiveType) of each convolution / matmul, counted: which ISA
        path ran, e.g. 'brgconv_avx2_f32', 'jit_avx2_I8', 'brgemm_avx512_amx_I8', 'gemm_mlas_f32'."""
        return self._count_compute_layers("primitiveType")

    def _count_compute_layers(self, key: str) -> Counter:
        counts: Counter = Counter()
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if info["layerType"].astype(str) in _COMPUTE_LAYERS:
                counts[info[key].astype(str)] += 1
        return counts

    def _check_precision(self) -> None:
        actual = _precision_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        if actual != self.precision:
            raise StageError(
                f"{self.path.name}: asked OpenVINO for {self.precision} inference, the CPU plugin chose {actual}; "
                "this CPU lacks that precision: drop the variant (options.bf16_variant: false)"
            )


def _kernel_precision(exec_type: str) -> str:
    """'brgconv_avx512_I8' -> 'i8', 'jit_uni_f32' -> 'f32': the precision the CPU plugin's kernel ran in."""
    last = exec_type.rsplit("_", 1)[-1].lower()
    return last if last in {"f32", "f16", "bf16", "i8", "u8", "i32", "i64", "u1", "boolean"} else ""


def _precision_name(element_type) -> str:
    return element_type.get_type_name()  # 'f32', 'bf16', 'f16'


def _input_info(port) -> InputInfo:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return InputInfo(port.get_any_name(), shape, port.get_element_type().to_dtype().name)


def _port_name(port, fallback: str) -> str:
    # An output converted from ONNX keeps its tensor name; one made by a graph pass may have none.
    names = port.get_names()
    return port.get_any_name() if len(names) == 1 else min(names) if names else fallback
