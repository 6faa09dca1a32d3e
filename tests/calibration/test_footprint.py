"""The calibration batch sized to a memory budget, and the one-line refusal when one sample cannot fit."""

from __future__ import annotations

import pytest

from edge_pipeline.calibration.footprint import (
    BATCH_ACTIVATION_CEILING,
    Budget,
    GraphFootprint,
    calibration_batch,
)
from edge_pipeline.config.schema import QuantizeConfig
from edge_pipeline.errors import ConfigError

MIB = 1 << 20
FOOTPRINT = GraphFootprint(weights=10 * MIB, activations=40 * MIB, largest=4 * MIB, tensors=50)


def test_the_batch_is_the_largest_that_fits_the_budget():
    fixed = FOOTPRINT.peak(0, 2048)
    budget = Budget(fixed + 3 * FOOTPRINT.per_sample() + 1, "test")
    assert calibration_batch(FOOTPRINT, 16, 2048, budget, "target 't'") == 3
    assert calibration_batch(FOOTPRINT, 2, 2048, budget, "target 't'") == 2


def test_a_batch_never_holds_more_activations_than_the_ceiling_even_with_memory_to_spare():
    batch = calibration_batch(FOOTPRINT, 4096, 2048, Budget(1 << 50, "test"), "target 't'")
    assert batch == BATCH_ACTIVATION_CEILING // FOOTPRINT.per_sample()


def test_one_sample_over_the_budget_is_refused_in_one_line_naming_estimate_and_budget():
    with pytest.raises(ConfigError) as caught:
        calibration_batch(FOOTPRINT, 16, 2048, Budget(64 * MIB, "quantize.memory_budget_mib"), "target 'x86'")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("target 'x86': calibration needs about 83.6 MiB at one sample per batch")
    assert "the budget is 64.0 MiB (quantize.memory_budget_mib)" in message


def test_a_fixed_batch_model_is_refused_when_its_batch_cannot_fit():
    budget = Budget(FOOTPRINT.peak(4, 2048), "test")
    assert calibration_batch(FOOTPRINT, 4, 2048, budget, "t", fixed=True) == 4
    with pytest.raises(ConfigError, match="at 8 samples per batch"):
        calibration_batch(FOOTPRINT, 8, 2048, budget, "t", fixed=True)


def test_the_recipe_budget_wins_over_available_memory():
    assert Budget.for_config(QuantizeConfig(memory_budget_mib=512)) == Budget(512 * MIB, "quantize.memory_budget_mib")
    assert Budget.for_config(QuantizeConfig()).source == "memory available"
