"""Calibration statistics collected once; minmax / percentile / entropy ranges derived from them."""

import numpy as np
import pytest

from edge_pipeline.calibration.statistics import CalibrationStatistics, StatisticsCollector, kl_threshold
from edge_pipeline.errors import ConfigError, DataError


def _collect(batches: list[np.ndarray], bins: int = 2048) -> CalibrationStatistics:
    collector = StatisticsCollector(["t"], bins)
    for batch in batches:
        collector.update({"t": batch}, len(batch))
    return collector.result()


def test_minmax_symmetric_and_asymmetric():
    stats = _collect([np.array([[-1.0, 0.5]]), np.array([[3.0, -0.25]])])
    assert stats.ranges("minmax", symmetric=False)["t"] == (-1.0, 3.0)
    assert stats.ranges("minmax", symmetric=True)["t"] == (-3.0, 3.0)


def test_widening_range_keeps_every_count():
    rng = np.random.default_rng(0)
    small, large = rng.uniform(-1, 1, (100, 10)), rng.uniform(-8, 8, (100, 10))
    stats = _collect([small, large])
    assert stats.tensors["t"].counts.sum() == pytest.approx(2000)
    assert stats.tensors["t"].edge == pytest.approx(np.abs(np.concatenate([small, large])).max())


def test_percentile_clips_outliers_and_entropy_lands_inside_the_range():
    rng = np.random.default_rng(1)
    values = rng.standard_normal((400, 256)).astype(np.float32)
    values[0, 0] = 40.0  # one outlier
    stats = _collect([values])
    full = stats.ranges("minmax", True)["t"][1]
    p = stats.ranges("percentile", True, percentile=99.99)["t"][1]
    entropy = stats.ranges("entropy", True)["t"][1]
    assert full == pytest.approx(40.0)
    assert 3.0 < p < 6.0
    assert 2.0 < entropy < full


def test_entropy_ignores_the_relu_zero_spike():
    rng = np.random.default_rng(2)
    relu = np.maximum(rng.standard_normal((400, 256)), 0).astype(np.float32)  # half exact zeros
    stats = _collect([relu])
    amax = stats.ranges("entropy", True)["t"][1]
    assert amax > 0.6 * relu.max()


def test_kl_threshold_of_an_empty_histogram_is_zero():
    assert kl_threshold(np.zeros(2048), 0.0) == 0.0


def test_save_and_load_round_trip(tmp_path):
    stats = _collect([np.random.default_rng(3).standard_normal((16, 32))], bins=256)
    stats.save(tmp_path / "s.npz")
    loaded = CalibrationStatistics.load(tmp_path / "s.npz")
    assert loaded.samples == stats.samples and loaded.num_bins == 256
    for method in ("minmax", "percentile", "entropy"):
        assert loaded.ranges(method, True) == stats.ranges(method, True)


def test_bad_inputs_name_the_fix():
    with pytest.raises(ConfigError, match="num_bins"):
        StatisticsCollector(["t"], num_bins=16)
    with pytest.raises(DataError, match="calibration"):
        StatisticsCollector(["t"]).result()
    with pytest.raises(ConfigError, match="minmax"):
        _collect([np.ones((1, 4))]).ranges("mse", True)
