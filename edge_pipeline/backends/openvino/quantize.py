"""NNCF post-training INT8 on an OpenVINO model, with optional accuracy control.

NNCF's OpenVINO backend is used rather than its torch backend: it needs no compiled extension and
quantizes the very graph the runtime executes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nncf
import numpy as np
import openvino as ov
from nncf.quantization.advanced_parameters import (
    AdvancedAccuracyRestorerParameters,
    AdvancedQuantizationParameters,
    AdvancedSmoothQuantParameters,
)
from nncf.quantization.range_estimator import (
    AggregatorType,
    RangeEstimatorParameters,
    RangeEstimatorParametersSet,
    StatisticsCollectorParameters,
    StatisticsType,
)

from edge_pipeline.backends.openvino.names import OnnxNames, node_operations, openvino_types
from edge_pipeline.backends.openvino.options import OpenVinoOptions, check_eval_data, check_method
from edge_pipeline.backends.openvino.statistics import quantize_with_statistics, statistics_key
from edge_pipeline.calibration.footprint import Budget, calibration_batch
from edge_pipeline.calibration.task_metric import metric_function, task_figures
from edge_pipeline.config.schema import MetricSpec
from edge_pipeline.errors import ConfigError, StageError

# The meta's word for statistics an earlier attempt of the same step collected.
REUSED = "re-used (same model, calibration samples and NNCF settings; ignored scope aside)"
# Operations whose inputs NNCF quantizes; one without a FakeQuantize on its input runs in float.
WEIGHTED_TYPES = {
    "Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData", "GroupConvolutionBackpropData"
}
@dataclass(frozen=True)
class IgnoredOps:
    names: list[str]  # OpenVINO friendly names
    types: list[str]  # OpenVINO op types
    absent: list[str] = ()  # recipe names the ONNX graph has and the OpenVINO model no longer does

    def scope(self) -> nncf.IgnoredScope | None:
        if not self.names and not self.types:
            return None
        # Names and types were checked against the model already, with messages that name the fix.
        return nncf.IgnoredScope(names=self.names, types=self.types, validate=False)


def resolve_ignored_ops(model: ov.Model, names: list[str], op_types: list[str],
                        keep_float: list[str] = (), onnx: OnnxNames | None = None) -> IgnoredOps:
    """Map exclude_nodes / exclude_op_types (ONNX names, or OpenVINO's own) onto the model's operations
    (names.py). ``onnx``: the source graph's names; with it, a name or type the ONNX graph has but
    OpenVINO's conversion folded away keeps nothing float instead of failing, so one recipe serves
    every backend; it is listed in ``IgnoredOps.absent``."""
    ops = model.get_ordered_ops()
    friendly = [op.get_friendly_name() for op in ops]
    resolved_names: list[str] = []
    absent: list[str] = []
    for name in names:
        matches = node_operations(model, name, onnx)
        if not matches and onnx is not None and name in onnx.node_types:
            absent.append(name)
        elif not matches:
            sample = ", ".join(f for f, op in zip(friendly, ops, strict=True) if op.get_type_name() in WEIGHTED_TYPES)
            raise ConfigError(
                f"quantize.exclude_nodes '{name}' matches no ONNX node or OpenVINO operation; use an ONNX node "
                f"name, or an OpenVINO operation name such as: {sample[:300]}"
            )
        resolved_names += matches
    for name in keep_float:  # the fallback's picks: a name fused away in the IR is skipped
        resolved_names += node_operations(model, name, onnx)
    model_types = {op.get_type_name() for op in ops}
    resolved_types = []
    for op_type in op_types:
        mapped = openvino_types(op_type, model_types)
        if mapped is None and onnx is not None and op_type in onnx.op_types:
            absent.append(op_type)
        elif mapped is None:
            raise ConfigError(
                f"quantize.exclude_op_types '{op_type}' matches no operation; name an ONNX op type of the model, "
                f"or one of the OpenVINO model's types: {sorted(model_types)}"
            )
        resolved_types += mapped or []
    return IgnoredOps(sorted(set(resolved_names)), sorted(set(resolved_types)), sorted(absent))


def activation_ranges(config, options: OpenVinoOptions | None = None) -> AdvancedQuantizationParameters:
    """quantize.method as NNCF activation range estimators (minmax: global extremes, like ORT's), with
    the target's SmoothQuant settings."""
    check_method(config)
    if config.method == "minmax":
        ranges = RangeEstimatorParametersSet.MINMAX
    else:
        outlier = (100.0 - config.percentile) / 100.0
        collector = StatisticsCollectorParameters(StatisticsType.QUANTILE, AggregatorType.MEAN,
                                                  quantile_outlier_prob=outlier)
        ranges = RangeEstimatorParameters(min=collector, max=collector)
    return AdvancedQuantizationParameters(activations_range_estimator_params=ranges,
                                          smooth_quant_alphas=_smooth_quant(options))


def _smooth_quant(options: OpenVinoOptions | None) -> AdvancedSmoothQuantParameters:
    """NNCF's SmoothQuant alphas: its defaults, the target's MatMul alpha, or -1 (NNCF's 'off') for both."""
    defaults = AdvancedSmoothQuantParameters()
    if options is None:
        return defaults
    if not options.smooth_quant:
        return AdvancedSmoothQuantParameters(convolution=-1, matmul=-1)
    matmul = options.smooth_quant_alpha if options.smooth_quant_alpha is not None else defaults.matmul
    return AdvancedSmoothQuantParameters(convolution=defaults.convolution, matmul=matmul)


def quantize_kwargs(config, options: OpenVinoOptions, ignored: IgnoredOps, sample_count: int) -> dict:
    return {
        "preset": nncf.QuantizationPreset(options.preset),
        "subset_size": sample_count,
        "fast_bias_correction": options.fast_bias_correction,
        "model_type": nncf.ModelType.TRANSFORMER if options.model_type == "transformer" else None,
        "ignored_scope": ignored.scope(),
    }


def check_calibration_memory(onnx_path, dataset, config, where: str) -> None:
    """NNCF runs one sample at a time and keeps only reduced statistics per sample (min/max,
    quantiles, per-channel means), so calibration's peak is one sample's activations over the
    weights; refuse before converting when even that cannot fit the budget."""
    import onnx

    from edge_pipeline.backends.onnx_memory import graph_footprint

    model = onnx.load(str(onnx_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in initializers]
    one = next(dataset.take(1).feeds(1, input_names))
    footprint = graph_footprint(model, {name: array.shape for name, array in one.items()})
    calibration_batch(footprint, 1, config.num_bins, Budget.for_config(config), where)


def calibration_set(dataset, samples: int, input_names: list[str]) -> tuple[nncf.Dataset, int]:
    """One sample per item, as a named feed: the IR's batch is dynamic and NNCF's subset_size counts items."""
    calib = dataset.take(samples)
    return nncf.Dataset(list(calib.feeds(1, input_names))), len(calib)


def validation_set(eval_data, input_names: list[str]) -> nncf.Dataset:
    items = list(zip(eval_data.feeds(1, input_names), (int(label) for label in eval_data.labels), strict=True))
    return nncf.Dataset(items, lambda item: item[0])


def top1_percent(compiled_model, items) -> tuple[float, list[float]]:
    """Top-1 accuracy in percent, plus per-sample hits so NNCF can rank quantizers by metric."""
    output = compiled_model.outputs[0]
    hits = [100.0 if int(np.argmax(compiled_model(x)[output])) == label else 0.0 for x, label in items]
    return float(np.mean(hits)), hits


def float_compute_ops(model: ov.Model) -> list[str]:
    """Weighted operations whose activation input is not fake-quantized: what accuracy control
    reverted. What the CPU plugin finally executes is read back from the compiled model instead
    (OpenVinoBackend.executed_layers), since its transformations move and fuse FakeQuantize."""
    return sorted(
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() in WEIGHTED_TYPES and op.input_value(0).get_node().get_type_name() != "FakeQuantize"
    )


def quantize_model(model: ov.Model, dataset, config, options: OpenVinoOptions, eval_data,
                   metric: MetricSpec | None = None, onnx: OnnxNames | None = None,
                   onnx_path: Path | None = None) -> tuple[ov.Model, dict]:
    """INT8 model plus what was done to it: settings, ops left in float, accuracy control outcome.
    ``metric``: the recipe's task metric, which accuracy control holds when config.control_metric names
    one of its figures (otherwise top-1 on the labels). ``onnx``: the source graph's names, which the
    recipe's exclusions use. ``onnx_path``: the source model, whose content keys the memoised
    calibration statistics (statistics.py); None collects them afresh."""
    check_eval_data(config, eval_data, metric)
    ignored = resolve_ignored_ops(model, config.exclude_nodes, config.exclude_op_types, config.keep_float, onnx)
    advanced = activation_ranges(config, options)
    input_names = [port.get_any_name() for port in model.inputs]
    calib, count = calibration_set(dataset, config.samples, input_names)
    kwargs = quantize_kwargs(config, options, ignored, count)
    reused = False
    if onnx_path is None:
        quantized = _run_nncf(lambda: nncf.quantize(model, calib, advanced_parameters=advanced, **kwargs))
    else:
        key = statistics_key(onnx_path, dataset.take(config.samples).sha256, count, config, options)
        quantized, reused = _run_nncf(lambda: quantize_with_statistics(model, calib, key, advanced, kwargs))
    meta = {
        "quantizer": f"nncf {nncf.__version__} (OpenVINO backend)",
        "preset": options.preset,
        "fast_bias_correction": options.fast_bias_correction,
        "model_type": options.model_type,
        "smooth_quant": _smooth_quant_meta(options),
        "calibration": {"method": config.method, "samples": count,
                        "statistics": REUSED if reused else "collected"},
        "ignored_scope": {"names": ignored.names, "types": ignored.types,
                          **({"not_in_openvino_model": list(ignored.absent)} if ignored.absent else {})},
    }
    if config.max_drop is None:
        return quantized, meta
    scorer = _scorer(config, eval_data, metric, input_names)
    controlled, report = accuracy_controlled(model, quantized, calib, scorer, config, options, kwargs, advanced)
    meta["accuracy_control"] = report
    return controlled, meta


def _smooth_quant_meta(options: OpenVinoOptions) -> str:
    if options.model_type != "transformer":
        return "not applied (NNCF runs it for the transformer model type only)"
    if not options.smooth_quant:
        return "off"
    return f"MatMul alpha {options.smooth_quant_alpha if options.smooth_quant_alpha is not None else 'default'}"


@dataclass(frozen=True)
class Scorer:
    """What accuracy control holds: a validation set, NNCF's validation function over it (higher is
    better), and how to describe it in the artifact's record."""

    validation: nncf.Dataset
    function: Callable
    description: str


def _scorer(config, eval_data, metric: MetricSpec | None, input_names: list[str]) -> Scorer:
    if config.control_metric is None or metric is None:
        return Scorer(validation_set(eval_data, input_names), top1_percent,
                      f"top-1 % on data.eval ({eval_data.source}, {len(eval_data)} samples)")
    figure, sign = config.control_metric, metric.better_sign(config.control_metric)
    function = metric_function(metric)
    # Items carry their sample index: NNCF scores subsets (its ranking step), whose labels must match.
    items = list(zip(eval_data.feeds(1, input_names), range(len(eval_data)), strict=True))

    def score(compiled_model, samples) -> float:
        outputs: dict[str, list] = {}
        indices = []
        for feed, index in samples:
            result = compiled_model(feed)
            indices.append(index)
            for port in compiled_model.outputs:
                outputs.setdefault(port.get_any_name(), []).append(result[port])
        joined = {name: np.concatenate(values) for name, values in outputs.items()}
        labels = None if eval_data.labels is None else eval_data.labels[indices]
        figures = task_figures(metric, joined, labels, function)
        if figure not in figures:
            raise StageError(f"quantize.control_metric '{figure}' is not a figure metric '{metric.function}' "
                             f"returns ({sorted(figures)}); name one of those")
        return sign * figures[figure]

    where = "higher" if sign > 0 else "lower"
    return Scorer(nncf.Dataset(items, lambda item: item[0]), score,
                  f"metric '{figure}' ({metric.function}, {where} is better; scored as {sign:+.0f} x figure) "
                  f"on data.eval ({eval_data.source}, {len(eval_data)} samples)")


def accuracy_controlled(model, plain, calib, scorer: Scorer, config, options, kwargs,
                        advanced) -> tuple[ov.Model, dict]:
    restorer = AdvancedAccuracyRestorerParameters(max_num_iterations=options.max_iterations or 2**31)
    controlled = _run_nncf(
        lambda: nncf.quantize_with_accuracy_control(
            model,
            calib,
            scorer.validation,
            scorer.function,
            max_drop=config.max_drop,
            drop_type=nncf.DropType.ABSOLUTE,
            advanced_quantization_parameters=advanced,
            advanced_accuracy_restorer_parameters=restorer,
            **kwargs,
        )
    )
    scores = {name: _score(m, scorer)
              for name, m in (("fp32", model), ("int8_plain", plain), ("int8", controlled))}
    kept = sorted(set(float_compute_ops(controlled)) - set(float_compute_ops(plain)))
    return controlled, {
        "max_drop_points": config.max_drop,
        "metric": scorer.description,
        "accuracy": scores,
        "drop_points": round(scores["fp32"] - scores["int8"], 4),
        "kept_in_float": kept,
        "within_budget": scores["fp32"] - scores["int8"] <= config.max_drop + 1e-9,
    }


def _score(model: ov.Model, scorer: Scorer) -> float:
    from edge_pipeline.backends.openvino.runner import core

    compiled = core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = scorer.function(compiled, scorer.validation.get_data())
    return round(result[0] if isinstance(result, tuple) else result, 4)


def _run_nncf(call):
    """NNCF's own errors become StageErrors; its progress bars and INFO logs stay off stderr."""
    previous = nncf.common.logging.nncf_logger.level
    nncf.common.logging.nncf_logger.setLevel(logging.WARNING)
    try:
        return call()
    except nncf.ValidationError as exc:
        raise ConfigError(f"NNCF rejected the quantization settings: {str(exc).splitlines()[0]}") from exc
    except (nncf.InternalError, RuntimeError, ValueError) as exc:
        raise StageError(f"NNCF quantization failed: {str(exc).splitlines()[0]}") from exc
    finally:
        nncf.common.logging.nncf_logger.setLevel(previous)
