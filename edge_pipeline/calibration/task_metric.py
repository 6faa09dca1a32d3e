"""The recipe's own task metric (``metric: package.module:function``), computed over data.eval.

The function takes ``(outputs, labels)``: outputs by name, each (N, ...), and the eval labels or
None; it returns named figures. It runs fenced (calibration/fenced.py): on copies, within
metric.timeout_s, its exceptions and sys.exit() as one-line errors naming its file and line. Its
answers go into report rows, compare gates, the quantize step's metric floor and OpenVINO's
accuracy control, so they are checked here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from edge_pipeline.calibration.fenced import call_fenced
from edge_pipeline.config.references import import_callable, module_source
from edge_pipeline.config.schema import MetricSpec
from edge_pipeline.errors import ConfigError, DataError

MetricFunction = Callable[[dict[str, np.ndarray], np.ndarray | None], Mapping[str, float]]


def metric_function(spec: MetricSpec) -> MetricFunction:
    return import_callable(spec.function, what="metric", error=ConfigError)


def task_figures(spec: MetricSpec, outputs: Mapping[str, np.ndarray], labels: np.ndarray | None,
                 function: MetricFunction | None = None) -> dict[str, float]:
    """The metric's figures on ``outputs``, each a finite float; a one-line error otherwise."""
    function = function or metric_function(spec)
    # Copies: a metric that edits its arguments in place must not change any later figure (the
    # same arrays score the next artifact, and the eval labels every one).
    given = {name: np.array(array, copy=True) for name, array in outputs.items()}
    given_labels = None if labels is None else np.array(labels, copy=True)
    figures = call_fenced(lambda: function(given, given_labels), what=f"metric '{spec.function}'",
                          timeout_s=spec.timeout_s, setting="metric.timeout_s", user=function)
    if not isinstance(figures, Mapping) or not figures:
        raise DataError(f"metric '{spec.function}' returned {type(figures).__name__}; return a non-empty "
                        "{figure name: number} dict")
    checked = {}
    for name, value in figures.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise DataError(f"metric '{spec.function}' figure '{name}' is {value!r}, not a number") from exc
        if not math.isfinite(number):
            raise DataError(f"metric '{spec.function}' figure '{name}' is {number}; return finite numbers")
        checked[str(name)] = number
    return checked


def worsening(spec: MetricSpec, figure: str, reference: float, value: float) -> float:
    """How much worse ``value`` is than ``reference`` (positive: worse), by the figure's direction."""
    return (reference - value) * spec.better_sign(figure)


def metric_identity(spec: MetricSpec) -> dict:
    """What keys a cached step that the metric judged: the spec and its module's source, so an
    edited metric re-runs the step instead of trusting a verdict the old code gave."""
    import hashlib

    metric_function(spec)  # a metric that does not import fails here, before any work
    source = module_source(spec.function) or spec.function  # no readable source: its name is all there is
    # Without timeout_s: how long a call may take does not change a figure it returns.
    identity = spec.model_dump(mode="json", exclude={"timeout_s"})
    return {**identity, "source_sha256": hashlib.sha256(source.encode()).hexdigest()}
