"""KD and hint losses, adapters, and the strict shrink configs."""

import pytest
import torch
from torch.nn import functional as F

from edge_pipeline.config.shrink import DistillConfig, HintSpec, KDLoss, PruneConfig, TransferData
from edge_pipeline.distillation.hints import build_adapters, make_adapter
from edge_pipeline.distillation.losses import UNLABELLED, kd_loss, soft_target_loss
from edge_pipeline.errors import ConfigError


def test_soft_target_loss_is_zero_for_identical_logits_and_positive_otherwise():
    logits = torch.randn(8, 5)
    assert soft_target_loss(logits, logits, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_target_loss(logits, torch.randn(8, 5), 4.0).item() > 0


def test_soft_target_loss_is_t_squared_scaled_kl():
    student, teacher, t = torch.randn(4, 3), torch.randn(4, 3), 3.0
    expected = F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean") * t * t
    assert soft_target_loss(student, teacher, t).item() == pytest.approx(expected.item(), rel=1e-5)


def test_kd_loss_mixes_hard_labels_by_alpha():
    student, teacher, labels = torch.randn(6, 4), torch.randn(6, 4), torch.randint(0, 4, (6,))
    config = KDLoss(temperature=2.0, alpha=0.25)
    soft = soft_target_loss(student, teacher, 2.0)
    hard = F.cross_entropy(student, labels)
    assert kd_loss(student, teacher, labels, config).item() == pytest.approx((0.25 * soft + 0.75 * hard).item(),
                                                                             rel=1e-5)


def test_unlabelled_samples_get_kd_only():
    student, teacher = torch.randn(6, 4), torch.randn(6, 4)
    unlabelled = torch.full((6,), UNLABELLED)
    config = KDLoss(temperature=2.0, alpha=0.5)
    assert kd_loss(student, teacher, unlabelled, config).item() == pytest.approx(
        soft_target_loss(student, teacher, 2.0).item()
    )


def test_adapter_is_identity_or_1x1_conv_or_linear():
    hint = HintSpec(teacher_layer="a", student_layer="b")
    assert isinstance(make_adapter(torch.Size([2, 8, 4, 4]), torch.Size([2, 8, 4, 4]), hint), torch.nn.Identity)
    conv = make_adapter(torch.Size([2, 4, 4, 4]), torch.Size([2, 8, 4, 4]), hint)
    assert isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (1, 1) and conv.out_channels == 8
    assert isinstance(make_adapter(torch.Size([2, 5, 16]), torch.Size([2, 5, 32]), hint), torch.nn.Linear)
    with pytest.raises(ConfigError, match="spatial size"):
        make_adapter(torch.Size([2, 4, 4, 4]), torch.Size([2, 8, 2, 2]), hint)


def test_hint_layer_that_does_not_exist_names_the_setting():
    from edge_pipeline.testing.tiny import example_inputs, tiny_residual_net

    teacher, student = tiny_residual_net(width=8), tiny_residual_net(width=4)
    hints = [HintSpec(teacher_layer="conv", student_layer="no_such_layer")]
    with pytest.raises(ConfigError, match=r"distill.hints.*no_such_layer"):
        build_adapters(student, teacher, hints, example_inputs()[0])
    adapters = build_adapters(student, teacher, [HintSpec(teacher_layer="conv", student_layer="conv")],
                              example_inputs()[0])
    assert isinstance(adapters[0], torch.nn.Conv2d) and (adapters[0].in_channels, adapters[0].out_channels) == (4, 8)


@pytest.mark.parametrize("config_type", [DistillConfig, PruneConfig, TransferData])
def test_config_round_trips_through_json(config_type):
    config = config_type()
    assert config_type.model_validate_json(config.model_dump_json()) == config


@pytest.mark.parametrize("changes", [{"target": {"ratio": 1.0}}, {"target": {"ratio": 0}},
                                     {"target": {"macs_fraction": 1.5}},
                                     {"round_to": 0}, {"importance": "random"}, {"stepz": 2}])
def test_prune_config_rejects_bad_values(changes):
    with pytest.raises(ValueError):
        PruneConfig.model_validate(changes)


def test_transfer_data_wants_one_source():
    assert TransferData(dataset={"path": "x.npz"}).provider_reference() is None
    with pytest.raises(ValueError, match="not both"):
        TransferData(provider="a:b", dataset={"path": "x.npz"})
