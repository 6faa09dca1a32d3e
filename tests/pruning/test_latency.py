"""The latency budget's probe: candidate and teacher exported and timed side by side on a named backend."""

import numpy as np
import pytest

from edge_pipeline.config.schema import InputSpec
from edge_pipeline.config.shrink import PruneTarget
from edge_pipeline.errors import ConfigError


@pytest.mark.slow
def test_probe_times_candidate_and_teacher_on_onnxruntime():
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

    inputs, _ = labelled_arrays(8)
    probe = LatencyProbe(tiny_residual_net(width=16), InputSpec(shape=[1, 3, 8, 8]), inputs,
                         PruneTarget(kind="latency", threads=1))
    try:
        measured = probe.measure(tiny_residual_net(width=4), "candidate")
    finally:
        probe.close()
    assert measured["latency_ms"] > 0 and measured["teacher_latency_ms"] > 0
    assert measured["latency_vs_teacher"] > 0  # median of per-round ratios, so not exactly the ratio of medians


def test_unknown_backend_is_refused():
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.testing.tiny import tiny_residual_net

    with pytest.raises(ConfigError, match="unknown backend 'tensorflow'"):
        LatencyProbe(tiny_residual_net(), InputSpec(shape=[1, 3, 8, 8]), np.zeros((1, 3, 8, 8), np.float32),
                     PruneTarget(kind="latency", backend="tensorflow"))


@pytest.mark.slow
def test_probe_feeds_every_input_of_a_two_input_encoder():
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.testing.kit import SEQUENCE, encoder_arrays, tiny_encoder

    specs = [InputSpec(name="input_ids", shape=[1, SEQUENCE], dtype="int64"),
             InputSpec(name="attention_mask", shape=[1, SEQUENCE], dtype="int64")]
    probe = LatencyProbe(tiny_encoder(), specs, encoder_arrays(8, 1), PruneTarget(kind="latency", threads=1))
    try:
        measured = probe.measure(tiny_encoder(layers=1), "candidate")
    finally:
        probe.close()
    assert measured["latency_ms"] > 0 and measured["teacher_latency_ms"] > 0
