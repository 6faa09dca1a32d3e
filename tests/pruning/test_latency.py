"""The latency budget's probe: candidate and teacher exported and timed side by side on a named backend."""

import numpy as np
import pytest

from edge_pipeline.config.schema import InputSpec
from edge_pipeline.config.shrink import PruneTarget
from edge_pipeline.errors import ConfigError


@pytest.mark.slow
def test_probe_times_candidate_and_teacher_on_onnxruntime(monkeypatch):
    from edge_pipeline.pruning import latency
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

    monkeypatch.setattr(latency, "ROUNDS", 3)  # what is asserted holds for any round count and length
    monkeypatch.setattr(latency, "ROUND_SECONDS", 0.03)
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
def test_probe_feeds_every_input_of_a_two_input_encoder(monkeypatch):
    from edge_pipeline.pruning import latency
    from edge_pipeline.pruning.latency import LatencyProbe
    from edge_pipeline.testing.kit import SEQUENCE, encoder_arrays, tiny_encoder

    specs = [InputSpec(name="input_ids", shape=[1, SEQUENCE], dtype="int64"),
             InputSpec(name="attention_mask", shape=[1, SEQUENCE], dtype="int64")]
    # What is asserted is that both models ran on both inputs, not how steady the figures are: three short
    # rounds instead of seven of 0.2 s (2.8 s of timing alone).
    monkeypatch.setattr(latency, "ROUNDS", 3)
    monkeypatch.setattr(latency, "ROUND_SECONDS", 0.03)
    probe = LatencyProbe(tiny_encoder(), specs, encoder_arrays(8, 1), PruneTarget(kind="latency", threads=1))
    try:
        measured = probe.measure(tiny_encoder(layers=1), "candidate")
    finally:
        probe.close()
    assert measured["latency_ms"] > 0 and measured["teacher_latency_ms"] > 0
