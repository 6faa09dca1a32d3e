"""ONNX Runtime: static INT8 QDQ and dynamic quantization, and what the runtime executes (its runner is
runner.py: a session on the chosen execution providers, CPU unless told).

Settings follow what is fast on each CPU: on x86 with VNNI, unsigned activations with signed
per-channel weights (U8S8) let convolutions fuse into QLinearConv; signed activations there run
slower than FP32. On ARM, signed symmetric activations (S8S8) are what its kernels and XNNPACK want.
"""

from __future__ import annotations

import re
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_pipeline.backends.base import (
    Backend,
    ExecutedLayer,
    ExecutedNode,
    FallbackStrategy,
    InputInfo,
    ProducedArtifact,
    Runner,
    RunnerOptions,
)
from edge_pipeline.backends.onnxruntime.runner import OnnxRuntimeRunner
from edge_pipeline.calibration.layout import Layout, feed_batch, fixed_batch
from edge_pipeline.errors import StageError

# Quantization imports onnx and onnxruntime.quantization inside the functions that use them: the
# runner (runner.py) needs only the onnxruntime wheel.


def _methods() -> dict:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }


def _refuse_unknown_ops(onnx_path: Path) -> None:
    """An op ORT cannot run fails before calibration, named, not inside ORT's calibrator."""
    import onnx

    from edge_pipeline.backends.onnxruntime.ops import unknown_ops, unsupported_op_message

    ops = unknown_ops(onnx.load(str(onnx_path), load_external_data=False))
    if ops:
        raise StageError(unsupported_op_message(onnx_path.name, ops))  # the prepared copy keeps the name


class _FeedReader:
    """The CalibrationDataReader protocol (get_next) over named feeds, without importing
    onnxruntime.quantization here."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._batches = feeds
        self._next = 0

    def get_next(self):
        if self._next >= len(self._batches):
            return None
        self._next += 1
        return self._batches[self._next - 1]

    def __len__(self) -> int:
        return len(self._batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next = start_index


# The meta's word for ranges an earlier attempt of the same step (or target) calibrated.
REUSED = "re-used (same prepared model, calibration samples and settings)"
CALIBRATION_BATCH = 16  # samples per calibration batch where memory allows
DYNAMIC_SCOPE = ("MatMul", "Gemm")
# Ops whose INT8 outputs can stay float (matmul_outputs): ORT fuses them to MatMulIntegerToFloat / QGemm.
FLOAT_OUTPUT_OPS = ("MatMul", "Gemm")
# Compute ops in ORT's optimized graph, by the precision they run in.
_INT8_COMPUTE = {"QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "QGemm", "DynamicQuantizeMatMul",
                 "MatMulIntegerToFloat", "QAttention", "QLinearConvTranspose"}
_FLOAT_COMPUTE = {"Conv", "ConvTranspose", "MatMul", "Gemm", "FusedConv", "FusedMatMul", "FusedGemm",
                  "NhwcFusedConv", "Attention", "MultiHeadAttention", "FusedMatMulActivation"}


def _source_name(node, by_name: dict, producers: dict) -> str:
    """The model's own name for an optimized node (``by_name``/``producers``: the source graph's nodes
    by name and by output). ORT keeps it, suffixes it ('_token_2' on a fused QLinearConv), or names a
    rewritten node after the tensor it replaced ('getitem_nchwc' for an NCHWc convolution): each leads
    back to the source node."""
    stem = re.sub(r"_token_\d+$", "", node.name).removesuffix("_nchwc")
    for candidate in (node.name, stem):
        found = by_name.get(candidate) or producers.get(candidate)
        if found is not None:
            return _compute_origin(found, producers).name
    found = next((producers[out] for out in node.output if out in producers), None)
    return _compute_origin(found, producers).name if found is not None else node.name or node.output[0]


def _compute_origin(node, producers: dict):
    """A fused node named after its activation (Conv+Relu named for the Relu) stands for the compute
    node that feeds that activation."""
    seen = 0
    while node.op_type not in _FLOAT_COMPUTE | _INT8_COMPUTE and seen < 3 and node.input:
        feeder = producers.get(node.input[0])
        if feeder is None or feeder.op_type in ("QuantizeLinear", "DequantizeLinear"):
            feeder = producers.get(feeder.input[0]) if feeder is not None and feeder.input else None
        if feeder is None:
            break
        node, seen = feeder, seen + 1
    return node


def _optimized_and_source(path: Path):
    """ORT's optimized graph of ``path`` with the source graph's nodes by name and by output; None
    for an ORT-format model, which cannot be re-saved as ONNX."""
    import onnx

    from edge_pipeline.backends.onnxruntime.mlas import optimized_graph

    if Path(path).suffix != ".onnx":
        return None
    graph = optimized_graph(Path(path))
    source = onnx.load(str(path), load_external_data=False).graph
    return graph, {n.name: n for n in source.node}, {out: n for n in source.node for out in n.output}


def executed_graph(path: Path) -> list[ExecutedNode] | None:
    """Every node of the graph ORT's CPU EP runs for ``path`` (its optimized graph: the names its
    profiler reports), each with the nodes feeding it; compute nodes carry their source node's name."""
    read = _optimized_and_source(path)
    if read is None:
        return None
    graph, by_name, producers = read
    made_by = {out: node.name for node in graph.node for out in node.output if out}
    nodes = []
    for node in graph.node:
        compute = node.op_type in _INT8_COMPUTE | _FLOAT_COMPUTE
        nodes.append(ExecutedNode(
            node.name, node.op_type, tuple(dict.fromkeys(made_by[t] for t in node.input if t in made_by)),
            ("int8" if node.op_type in _INT8_COMPUTE else "float") if compute else "",
            (_source_name(node, by_name, producers),) if compute else ()))
    return nodes


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    runs_exported_onnx = True

    def layer_outputs(self, path: Path, options: RunnerOptions, feed: dict[str, np.ndarray],
                      names: list[str]) -> dict[str, np.ndarray] | None:
        from edge_pipeline.backends.onnxruntime.layers import onnx_layer_outputs

        if Path(path).suffix != ".onnx":
            return None
        return onnx_layer_outputs(Path(path), feed, names, options.threads)

    def executed_layers(self, path: Path, options: RunnerOptions) -> list[ExecutedLayer] | None:
        """Read from the graph ORT runs after its optimizations (QDQ pairs fused into QLinear*
        kernels, or left as DequantizeLinear -> float op where no kernel fuses)."""
        from edge_pipeline.backends.onnxruntime.mlas import kernel_label
        from edge_pipeline.cpuinfo import cpu_flag_set

        read = _optimized_and_source(path)
        if read is None:
            return None
        graph, by_name, producers = read
        kernel = kernel_label(graph, cpu_flag_set())
        return [ExecutedLayer(_source_name(node, by_name, producers), node.op_type,
                              "int8" if node.op_type in _INT8_COMPUTE else "float", kernel=kernel(node) or "")
                for node in graph.node if node.op_type in _INT8_COMPUTE | _FLOAT_COMPUTE]

    @classmethod
    def versions(cls) -> dict[str, str]:
        found = {"onnxruntime": ort.__version__}
        for package, key in (("onnx", "onnx"), ("onnxruntime", "onnxruntime-package")):
            try:
                found[key] = version(package)
            except PackageNotFoundError:
                pass
        return found

    def runner(self, path: Path, options: RunnerOptions) -> Runner:
        return OnnxRuntimeRunner(path, options)

    def fallback_strategies(self, onnx_path: Path, config, target) -> list[FallbackStrategy]:
        """For a transformer: MatMul-only (Gemm and Conv float), then the attention MatMuls kept float
        (projections stay INT8), then MatMul/Gemm activations quantized per inference (no calibrated
        range to get wrong). For a CNN calibrated by min/max: the percentile range, which clips the
        outliers a min/max range spends its steps on."""
        import onnx

        from edge_pipeline.backends.onnx_graph import analyse_graph, attention_float_strategy
        from edge_pipeline.backends.onnxruntime.presets import is_transformer

        model = onnx.load(str(onnx_path), load_external_data=False)
        strategies: list[FallbackStrategy] = []
        if is_transformer(model, config):
            if config.op_types != ["MatMul"]:
                strategies.append(FallbackStrategy("MatMul only (Gemm and Conv kept float)", {"op_types": ["MatMul"]}))
            attention = attention_float_strategy(analyse_graph(model), config)
            strategies += [attention] if attention is not None else []
            if config.activations == "static":
                strategies.append(FallbackStrategy("dynamic MatMul/Gemm activations", {"activations": "dynamic"}))
        elif config.method == "minmax" and config.activations == "static":
            strategies.append(FallbackStrategy("percentile calibration", {"method": "percentile"}))
        return strategies

    def quantize(self, onnx_path: Path, dataset, config, target, out_dir: Path,
                 eval_data=None, metric=None) -> list[ProducedArtifact]:
        from edge_pipeline.backends.onnxruntime.mobile import (
            check_mobile_source,
            mobile_options,
            produce_mobile_artifacts,
        )

        _refuse_unknown_ops(Path(onnx_path))
        mobile = mobile_options(target)  # validated before calibration starts
        if mobile is not None:
            check_mobile_source(Path(onnx_path), mobile, dataset.layout)
        if config.activations == "dynamic":
            produced = self._quantize_dynamic(onnx_path, config, target, out_dir)
        else:
            produced = self._quantize_qdq(onnx_path, dataset, config, target, out_dir)
        if mobile is not None:
            produced += produce_mobile_artifacts(produced[0].path, Path(out_dir), mobile, dataset.layout)
        return produced

    def _quantize_dynamic(self, onnx_path: Path, config, target, out_dir: Path) -> list[ProducedArtifact]:
        """INT8 weights, activations quantized per inference (DynamicQuantizeLinear -> MatMulInteger):
        no calibration, no range to get wrong; where static scales lose accuracy or speed on
        transformers. MatMul/Gemm only: ORT's dynamic ConvInteger is slower than its float Conv."""
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from edge_pipeline.backends.onnxruntime.presets import plan_for

        model = onnx.load(str(onnx_path))
        plan = plan_for(model, config)
        op_types = [t for t in (plan.op_types or DYNAMIC_SCOPE) if t in DYNAMIC_SCOPE]
        # DynamicQuantizeLinear makes u8 activations: the same u8 x s8 kernels as static U8S8
        reduce_range = _reduced_weights(_options(target), target, "uint8")
        out_path = Path(out_dir) / "model.int8.onnx"
        with tempfile.TemporaryDirectory(prefix="ep-ort-quant-") as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            shape_inference = prepare_for_quantization(Path(onnx_path), prepared)
            quantize_dynamic(str(prepared), str(out_path), op_types_to_quantize=op_types,
                             per_channel=config.per_channel, reduce_range=reduce_range, weight_type=QuantType.QInt8,
                             nodes_to_exclude=plan.excluded(), extra_options={"MatMulConstBOnly": True})
        meta = {
            "activations": "dynamic", "weight_type": "int8", "weight_bits": 7 if reduce_range else 8,
            "per_channel": config.per_channel,
            "preset": plan.preset, "op_types": op_types, "nodes_excluded": plan.excluded(),
            "float_nodes": plan.float_nodes, "shape_inference": shape_inference,
        }
        return [ProducedArtifact(out_path, "onnx", "int8", meta=meta)]

    def _quantize_qdq(self, onnx_path: Path, dataset, config, target, out_dir: Path) -> list[ProducedArtifact]:
        import onnx
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        from edge_pipeline.backends.onnxruntime.presets import exclude_unbounded, plan_for
        from edge_pipeline.backends.onnxruntime.statistics import CalibrationKey, memoised_ranges

        settings = quantization_settings(config, target)
        model = onnx.load(str(onnx_path))
        plan = plan_for(model, config)
        input_names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        fixed = _fixed_batch(model, dataset.layout)
        calib = dataset.take(config.samples)
        batch_size = calibration_batch_size(model, calib, input_names, config, target, fixed)
        batches = [feed for feed in calib.feeds(batch_size, input_names)
                   if fixed is None or feed_batch(feed, dataset.layout) == fixed]
        if not batches:
            raise StageError(f"no calibration batch of the model's fixed batch size {fixed}; add samples")
        out_path = Path(out_dir) / "model.int8.onnx"
        cache_path = Path(out_dir) / "calibration_ranges.json"
        with tempfile.TemporaryDirectory(prefix="ep-ort-quant-") as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            shape_inference = prepare_for_quantization(Path(onnx_path), prepared)
            symmetric = settings["extra_options"]["ActivationSymmetric"]
            key = CalibrationKey.of(prepared, calib, batch_size, config, symmetric)
            ranges, reused = memoised_ranges(
                key, prepared, plan.op_types, cache_path=cache_path,
                collect=lambda: tensors_data(prepared, batches, config, settings, Path(tmp), plan.op_types))
            unbounded = exclude_unbounded(onnx.load(str(prepared), load_external_data=False), plan, ranges)
            quantize_static(
                str(prepared),
                str(out_path),
                calibration_data_reader=None,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=plan.op_types,
                per_channel=config.per_channel,
                reduce_range=settings["reduce_range"],
                activation_type=settings["activation_type"],
                weight_type=QuantType.QInt8,
                nodes_to_exclude=plan.excluded(),
                calibrate_method=_methods()[config.method],
                calibration_cache_path=str(cache_path),
                extra_options={**settings["extra_options"],
                               # MatMul weights (K, N) get one scale per output column, like Conv/Gemm channels
                               **({"QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}} if config.per_channel else {})},
            )
        float_inputs = _keep_float_inputs(out_path, plan.excluded())
        conv_kernel = _steer_conv_kernel(out_path, settings["conv_kernel"], settings["conv_gemm_min_depth"])
        meta = {
            "activations": "static",
            "activation_type": settings["activation_name"],
            "weight_type": "int8",
            "weight_bits": 7 if settings["reduce_range"] else 8,
            "matmul_outputs": settings["matmul_outputs"],
            "activation_symmetric": settings["extra_options"]["ActivationSymmetric"],
            "per_channel": config.per_channel,
            "calibration": {"method": config.method, "samples": len(calib), "batch_size": batch_size,
                            "statistics": REUSED if reused else "collected"},
            "preset": plan.preset,
            "op_types": plan.op_types,
            "nodes_excluded": plan.excluded(),
            "float_nodes": plan.float_nodes,
            "unbounded_ranges": unbounded,
            "shape_inference": shape_inference,
            **conv_kernel,
            **({"float_inputs": float_inputs} if float_inputs else {}),
        }
        return [ProducedArtifact(out_path, "onnx", "int8", meta=meta)]


def _keep_float_inputs(path: Path, float_nodes: list[str]) -> list[str]:
    """Nodes kept float read their float input (float_inputs.py: else ORT re-quantizes them)."""
    import onnx

    from edge_pipeline.backends.onnxruntime.float_inputs import read_float_inputs

    if not float_nodes:
        return []
    # Weights stored beside the file stay there: the rewrite touches node inputs only.
    model = onnx.load(str(path), load_external_data=False)
    rewired = read_float_inputs(model, float_nodes)
    if rewired:
        onnx.save(model, str(path))
    return rewired


def _steer_conv_kernel(path: Path, conv_kernel: str, min_depth: int) -> dict:
    """Apply the target's ``conv_kernel`` option (convolutions of GEMM depth ``min_depth`` and over) to
    the QDQ model at ``path``; what it did, for the meta."""
    import onnx

    from edge_pipeline.backends.onnxruntime.conv_kernel import route_convs_to_gemm

    if conv_kernel != "gemm":
        return {"conv_kernel": conv_kernel}
    model = onnx.load(str(path), load_external_data=False)
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        raise StageError(f"{path.name}: conv_kernel: gemm cannot rewrite a model whose weights are stored outside "
                         "the file (over 2 GB); use conv_kernel: indirect for this target")
    routed = route_convs_to_gemm(model, min_depth)
    if routed:
        onnx.save(model, str(path))
    return {"conv_kernel": "gemm", "convs_on_gemm": len(routed), "conv_gemm_min_depth": min_depth}


def prepare_for_quantization(source: Path, prepared: Path) -> str:
    """ORT's pre-processing with its symbolic shape inference; where that cannot complete (it raises on
    some graphs exported elsewhere), again without it, saying so in the artifact's meta."""
    import contextlib

    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        # On an incomplete inference ORT saves 'sym_shape_infer_temp.onnx' into the current folder: a
        # user's folder must not get it, so the call runs from the folder of the file being prepared.
        with contextlib.chdir(prepared.parent):
            quant_pre_process(str(source.resolve()), str(prepared.resolve()), skip_symbolic_shape=False)
        return "symbolic"
    except Exception as exc:  # noqa: BLE001 - symbolic inference raises many types on graphs it cannot follow
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        return f"onnx only (symbolic shape inference failed: {exc.__class__.__name__})"


def quantization_settings(config, target) -> dict:
    from onnxruntime.quantization import QuantType

    from edge_pipeline.backends.onnxruntime.options import float_matmul_outputs

    activation = config.activation_type
    if activation == "auto":
        activation = "uint8" if target.device.arch == "x86_64" else "int8"
    symmetric = config.symmetric_activations
    if symmetric is None:
        symmetric = activation == "int8"
    options = _options(target)
    float_outputs = float_matmul_outputs(options.matmul_outputs, target.device.arch)
    return {
        "activation_name": activation,
        "activation_type": QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8,
        "reduce_range": _reduced_weights(options, target, activation),
        "matmul_outputs": "float" if float_outputs else "quantized",
        "conv_kernel": options.conv_kernel,
        "conv_gemm_min_depth": options.conv_gemm_min_depth,
        "extra_options": {"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                          **({"OpTypesToExcludeOutputQuantization": list(FLOAT_OUTPUT_OPS)} if float_outputs else {})},
    }


def _reduced_weights(options, target, activation_type: str) -> bool:
    """The target's ``weight_range`` option (``options``: its validated options) resolved for these
    activations and its CPU features."""
    from edge_pipeline.backends.onnxruntime.options import reduces_weight_range

    return reduces_weight_range(options.weight_range, activation_type, target.device.arch, target.device.features)


def _options(target):
    from edge_pipeline.backends.onnxruntime.options import OnnxRuntimeOptions
    from edge_pipeline.backends.registry import typed_options

    options: OnnxRuntimeOptions = typed_options(target)
    return options


def collect_ranges(model_path: Path, batches, config, settings: dict, cache_path: Path, tmp: Path,
                   op_types: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Calibrate (the tensors of ``op_types`` nodes; None: all) and write the ranges as a calibration
    cache that quantize_static reads; returns tensor -> (low, high). Not memoised: the quantize path
    goes through statistics.memoised_ranges."""
    from onnxruntime.quantization.calibrate import save_tensors_data

    from edge_pipeline.backends.onnxruntime.statistics import ranges_of

    data = tensors_data(model_path, batches, config, settings, tmp, op_types)
    save_tensors_data(data, cache_path)
    return ranges_of(data)


def tensors_data(model_path: Path, batches, config, settings: dict, tmp: Path, op_types: list[str] | None = None):
    """One calibration pass over ``batches``: ORT's TensorsData for the tensors of ``op_types`` nodes.

    quantize_static's own Entropy path builds its calibrator with 128 bins, which makes entropy
    land on the min/max range; building the calibrator here with ``num_bins`` fixes that.
    """
    from onnxruntime.quantization.calibrate import create_calibrator

    options = {"symmetric": settings["extra_options"]["ActivationSymmetric"]}
    if config.method in ("entropy", "percentile"):
        options["num_bins"] = config.num_bins
    if config.method == "percentile":
        options["percentile"] = config.percentile
    calibrator = create_calibrator(
        model_path,
        op_types,
        augmented_model_path=str(tmp / "augmented.onnx"),
        calibrate_method=_methods()[config.method],
        extra_options=options,
    )
    try:
        stream_batches(calibrator, batches)
        data = calibrator.compute_data()
    except (ValueError, FloatingPointError) as exc:
        raise StageError(_histogram_failure(config.method, str(exc).splitlines()[0])) from exc
    return data


def stream_batches(calibrator, batches) -> None:
    """Fold each batch into the calibrator's record before the next one runs.

    Given all batches in one ``collect_data`` call, ORT's histogram calibrators (entropy,
    percentile) keep every calibrated activation of every sample until the end: a 640x640
    detector went past 20 GB. One call per batch folds it into the histograms (or min/max) and
    drops it. ``max_intermediate_outputs`` is not the bound: in ORT 1.32 MinMaxCalibrater
    discards the batches it clears without merging their ranges (range of the last batches only).
    """
    import contextlib
    import io

    for feed in batches:
        # The histogram collector prints a line per call, which would be one per batch on stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            calibrator.collect_data(_FeedReader([feed]))


def calibration_batch_size(model, calib, input_names: list[str], config, target, fixed_batch: int | None) -> int:
    """The calibration batch whose peak memory fits the budget (calibration/footprint.py), up to
    CALIBRATION_BATCH; refused before any inference when one sample (or the fixed batch) cannot fit."""
    from edge_pipeline.backends.onnx_memory import graph_footprint
    from edge_pipeline.calibration.footprint import Budget, calibration_batch

    one = next(calib.feeds(1, input_names))
    footprint = graph_footprint(model, {name: array.shape for name, array in one.items()})
    return calibration_batch(footprint, fixed_batch or CALIBRATION_BATCH, config.num_bins, Budget.for_config(config),
                             f"target '{target.metadata.name}'", fixed=fixed_batch is not None)


def _histogram_failure(method: str, first_line: str) -> str:
    """ORT's histogram calibrators fail on non-finite activations (a mask's -inf) and on a tensor
    that is one value across every sample (numpy cannot cut 2048 bins out of a zero-width range)."""
    if "Too many bins" in first_line:
        why, fix = ("a tensor that is one value across the calibration samples",
                    "calibrate on more varied samples, or use quantize.method: minmax")
    else:
        why, fix = ("non-finite activations", "use quantize.preset: transformer (it keeps attention masks in float), "
                    "quantize.method: minmax, or exclude the nodes that make them (quantize.exclude_nodes)")
    return f"{method} calibration failed on {why} ({first_line}); {fix}"


def _fixed_batch(model, layout: Layout) -> int | None:
    """The batch the graph insists on, read at each input's own batch axis (a state's axis 1; a scalar
    input has none)."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [InputInfo(i.name, tuple(d.dim_value if d.HasField("dim_value") else None
                                      for d in i.type.tensor_type.shape.dim), "")
              for i in model.graph.input if i.name not in initializers]
    return fixed_batch(inputs, layout)
