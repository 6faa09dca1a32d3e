"""A latency budget watches latency: each step's line has its measured latency beside its MACs, and
once latency stops falling with MACs the schedule stops with one line naming the floor it reached."""

import re

import pytest
import torch
from torch import nn

from edge_pipeline.config.shrink import PruneConfig, PruneTarget, Recovery
from edge_pipeline.errors import StageError
from edge_pipeline.pruning.channels import count_macs_params, smallest_macs
from edge_pipeline.pruning.latency_floor import LatencyPoint, is_flat, stalled_at
from edge_pipeline.pruning.schedule import ScheduleInputs, run_schedule

FLOOR_MESSAGE = re.compile(
    r"^prune\.target\.latency_fraction=0\.01 is out of reach on onnxruntime: latency floor [\d.]+ ms "
    r"\([\d.]+x the teacher's on onnxruntime\) reached at [\d,]+ MACs \([\d.]+% of the teacher's\); .+; "
    r"stopped before pruning further; .+$"
)


class OverheadBoundCNN(nn.Module):
    """A small CNN behind a chain of elementwise work on its 3-channel input: that work costs the
    same at any width, so pruning the convolutions cuts MACs far faster than latency."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 4),
        )

    def forward(self, x):  # (B, 3, H, W)
        for _ in range(24):
            x = torch.tanh(x * 1.01 + 0.01)
        return self.body(x)


def _config(max_steps: int = 8) -> PruneConfig:
    return PruneConfig(target=PruneTarget(kind="latency", latency_fraction=0.01, step_fraction=0.5,
                                          max_steps=max_steps, threads=1),
                       recovery=Recovery(loss="none"), round_to=None)


def _inputs(model, tmp_path, measure) -> ScheduleInputs:
    example = torch.randn(1, 3, 16, 16)
    dataset = torch.utils.data.TensorDataset(torch.randn(8, 3, 16, 16), torch.zeros(8, dtype=torch.long))
    return ScheduleInputs(example, [], dataset, model, count_macs_params(model, example)[0], tmp_path, measure)


def _point(macs, ratio):
    return LatencyPoint(step=0, macs=macs, latency_ms=ratio, vs_teacher=ratio)


def test_a_step_is_flat_when_macs_fall_much_more_than_latency():
    assert is_flat(_point(1000, 1.0), _point(500, 0.99))
    assert not is_flat(_point(1000, 1.0), _point(500, 0.80))  # latency still follows MACs
    assert not is_flat(_point(1000, 1.0), _point(980, 1.0))  # MACs barely moved: nothing to judge
    points = [_point(1000, 1.0), _point(500, 0.6), _point(250, 0.6), _point(125, 0.59)]
    assert stalled_at(points) == points[1]
    assert stalled_at(points[:3]) is None  # one flat step is not yet a stop


def test_an_unreachable_budget_stops_at_the_floor_before_the_macs_floor(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGE_PIPELINE_PROGRESS", "lines")
    model = OverheadBoundCNN()
    config = _config()
    teacher_macs = count_macs_params(model, torch.randn(1, 3, 16, 16))[0]

    def overhead_bound(candidate, label):
        # The backend as the issue found it: latency follows MACs down to half the teacher's, then stays.
        share = count_macs_params(candidate, torch.randn(1, 3, 16, 16))[0] / teacher_macs
        latency = max(0.5, share)
        return {"latency_ms": latency, "teacher_latency_ms": 1.0, "latency_vs_teacher": latency}

    inputs = _inputs(model, tmp_path, overhead_bound)
    with pytest.raises(StageError) as caught:
        run_schedule(model, config, inputs)
    message = str(caught.value)
    assert FLOOR_MESSAGE.match(message) and "\n" not in message, message
    assert "latency floor 0.500 ms (0.50x the teacher's on onnxruntime)" in message
    assert f"reached at {inputs.history[0]['macs']:,} MACs" in message  # step 1 reached it; 2 and 3 were flat
    assert len(inputs.history) == 2  # step 3 stalled and was not recovered
    assert inputs.history[-1]["macs"] > smallest_macs(model, inputs.example, config, [])
    lines = [line for line in capsys.readouterr().err.splitlines() if re.search(r"prune\s+step \d", line)]
    assert len(lines) == 4 and all(re.search(r"[\d,]+ MACs .*[\d.]+ ms \([\d.]+x the teacher's", x) for x in lines)


@pytest.mark.slow  # each step exports the candidate to ONNX
def test_a_measured_unreachable_budget_fails_with_the_floor_it_reached(tmp_path, capsys, monkeypatch):
    """Timed for real on ONNX Runtime; what is asserted holds whichever end the timings lead to."""
    from edge_pipeline.config.schema import InputSpec
    from edge_pipeline.pruning import latency
    from edge_pipeline.pruning.latency import LatencyProbe

    monkeypatch.setenv("EDGE_PIPELINE_PROGRESS", "lines")
    monkeypatch.setattr(latency, "ROUNDS", 3)
    monkeypatch.setattr(latency, "ROUND_SECONDS", 0.03)
    model = OverheadBoundCNN()
    config = _config(max_steps=2)  # a used-up step budget fails in the same form
    probe = LatencyProbe(OverheadBoundCNN(), InputSpec(shape=[1, 3, 16, 16]), torch.randn(4, 3, 16, 16).numpy(),
                         config.target)
    try:
        with pytest.raises(StageError) as caught:
            run_schedule(model, config, _inputs(model, tmp_path, probe.measure))
    finally:
        probe.close()
    assert FLOOR_MESSAGE.match(str(caught.value)), str(caught.value)
    lines = [line for line in capsys.readouterr().err.splitlines() if re.search(r"prune\s+step \d", line)]
    assert lines and all(re.search(r"MACs .*[\d.]+ ms \([\d.]+x the teacher's on onnxruntime\)", x) for x in lines)
