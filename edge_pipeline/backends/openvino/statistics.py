"""NNCF post-training quantization with its statistics collected once per quantize step.

NNCF 3.4 offers no statistics re-use for post-training quantization through ``nncf.quantize``:
``statistics_path`` exists only in ``AdvancedCompressionParameters`` (weight compression), and the
ONNX and torch backends refuse it outright. Its pipeline API can: ``Pipeline.run_step`` takes each
step's collected statistic points. So the steps run here, as ``Pipeline.run_from_step`` runs them,
and each step's statistics are memoised for the life of the process under what they depend on:
the source model, the calibration samples, the range method and every option that changes the
pipeline (preset, model type, SmoothQuant, bias correction). The ignored scope (the fallback's
single-layer trials) is left out of the key on purpose: NNCF applies it in the last step only
(MinMaxQuantization), and a trial's statistic points are then the ones already collected or
fewer. A point not collected before (a quantizer that moved) makes that step collect again.

The computed statistics (NNCF's ``TensorStatistic`` objects, what a collector's cache holds) are
kept in memory, keyed per collector (see ``_collector_key``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nncf
import openvino as ov
from nncf.common.factory import StatisticsAggregatorFactory, build_graph
from nncf.common.tensor_statistics.statistics import TensorStatistic
from nncf.openvino.graph.model_utils import remove_friendly_name_duplicates
from nncf.openvino.graph.node_utils import get_number_if_op
from nncf.quantization.algorithms.post_training.pipeline import create_ptq_pipeline

_MEMO_LIMIT = 16  # (setting, step) entries
_memo: dict[tuple, dict] = {}
_passes = 0  # statistics collections run in this process: the fallback's re-use is tested with it


def calibration_passes() -> int:
    """How many times this process has run a model over calibration data for NNCF statistics."""
    return _passes


def statistics_key(onnx_path: Path, calib_sha256: str, samples: int, config, options) -> tuple:
    """What a step's statistics are a function of, ignored scope excepted (see the module's note)."""
    digest = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()
    shaping = options.model_dump(include={"preset", "fast_bias_correction", "model_type", "smooth_quant",
                                          "smooth_quant_alpha"})
    percentile = config.percentile if config.method == "percentile" else None
    return (digest, calib_sha256, samples, config.method, percentile, tuple(sorted(shaping.items())))


def quantize_with_statistics(model: ov.Model, calib: nncf.Dataset, key: tuple, advanced, kwargs: dict
                             ) -> tuple[ov.Model, bool]:
    """``nncf.quantize(model, calib, advanced_parameters=advanced, **kwargs)`` for the OpenVINO backend,
    each step's statistics memoised under ``key``; returns the model and whether every step re-used
    its statistics."""
    model = remove_friendly_name_duplicates(model)
    if get_number_if_op(model) > 0:  # NNCF quantizes If bodies on a path of its own
        return nncf.quantize(model, calib, advanced_parameters=advanced, **kwargs), False
    pipeline = create_ptq_pipeline(advanced_parameters=advanced, **kwargs)
    step_model, reused = model, True
    for index in range(len(pipeline.pipeline_steps)):
        graph = build_graph(step_model)
        points = pipeline.get_statistic_points_for_step(index, step_model, graph)
        statistics, hit = _step_statistics((*key, index), points, step_model, graph, calib)
        reused = reused and hit
        step_model = pipeline.run_step(index, statistics, step_model, graph)
    return step_model, reused


def _step_statistics(key: tuple, points, model: ov.Model, graph, calib: nncf.Dataset):
    global _passes
    known = _memo.get(key)
    aggregator = StatisticsAggregatorFactory.create(model, calib)
    aggregator.register_statistic_points(points)
    if known is not None and _load(aggregator.statistic_points, known):
        return aggregator.statistic_points, True
    aggregator = StatisticsAggregatorFactory.create(model, calib)  # a clean one: nothing half-loaded
    aggregator.register_statistic_points(points)
    if aggregator.statistic_points:
        _passes += 1
    aggregator.collect_statistics(model, graph)
    collected = _serialised(aggregator.statistic_points)
    if collected is not None:
        if key not in _memo and len(_memo) >= _MEMO_LIMIT:
            _memo.pop(next(iter(_memo)))
        _memo[key] = {**(known or {}), **collected}
    return aggregator.statistic_points, False


def _collector_key(point, collector) -> tuple:
    """A collector by where it reads and what it computes. NNCF's own key (statistic class and target
    point) is not enough: fast bias correction registers two mean statistics of different shapes at
    one point. Reducers and aggregators hash by their settings."""
    target = point.target_point
    return (target.target_node_name, str(target.type), target.port_id, type(collector).__name__,
            tuple(sorted(hash(reducer) for reducer in collector.reducers)),
            tuple(sorted(hash(aggregator) for aggregator in collector.aggregators.values())))


def _serialised(container) -> dict | None:
    """Each collector's computed statistic by collector key; None where one is not a TensorStatistic
    (nothing a collector's cache can take back)."""
    data = {}
    for _, point, collector in container.get_tensor_collectors():
        statistic = collector.get_statistics()
        if not isinstance(statistic, TensorStatistic):
            return None
        data[_collector_key(point, collector)] = statistic
    return data


def _load(container, known: dict) -> bool:
    """Fill every collector of ``container`` from ``known``; False where one was never collected.
    The statistics are read, never changed, by the algorithms, so attempts share them."""
    wanted = [(collector, _collector_key(point, collector))
              for _, point, collector in container.get_tensor_collectors()]
    if any(key not in known for _, key in wanted):
        return False
    for collector, key in wanted:
        collector.set_cache(known[key])
    return True
