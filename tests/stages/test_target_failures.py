"""The per-target failure plumbing: for_target keeps a target's error to itself unless fail-fast,
and a benchmark row that re-uses a failed measurement fails its own target too."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge_pipeline.errors import StageError
from edge_pipeline.stages.base import StageRun, TargetFailure
from edge_pipeline.stages.benchmark import failed_targets


def _view(fail_fast: bool) -> StageRun:
    return StageRun(stage="quantize", recipe=None, targets={"a": None, "b": None}, artifacts=(), rows=(), notes=(),
                    data=None, workdir=None, out=None, tool_versions={}, lineage=(), step_runner=None,
                    fail_fast=fail_fast)  # type: ignore[arg-type]


def _fail():
    raise StageError("conversion failed: bad graph\nsecond line")


def test_a_target_error_is_returned_with_its_first_line():
    failure = _view(False).for_target("a", _fail)
    assert isinstance(failure, TargetFailure)
    assert failure.record() == {"target": "a", "stage": "quantize", "error": "conversion failed: bad graph",
                                "error_class": "StageError"}
    assert _view(False).for_target("b", lambda: 3) == 3


def test_fail_fast_and_errors_that_are_no_edge_pipeline_error_propagate():
    with pytest.raises(StageError):
        _view(True).for_target("a", _fail)
    with pytest.raises(ZeroDivisionError):  # a defect is never one target's failure
        _view(False).for_target("a", lambda: 1 / 0)


def test_a_row_re_using_a_failed_measurement_fails_its_target():
    plan = [(SimpleNamespace(target=target), "ort-simulated", None, {}) for target in ("a", "b", "c")]
    failure = TargetFailure("a", "benchmark", "worker died", "StageError", StageError("worker died"))
    failed = failed_targets(plan, [0, 0, 2], {2: {}}, {0: failure})  # type: ignore[arg-type]
    assert set(failed) == {"a", "b"} and failed["b"].error == "worker died" and failed["b"].target == "b"
