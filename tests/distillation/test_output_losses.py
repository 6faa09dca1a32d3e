"""The per-output loss table: defaults by output kind, kl/mse/cosine terms, weights, hard labels, errors."""

import pytest
import torch
from torch.nn import functional as F

from edge_pipeline.config.shrink import DistillConfig, KDLoss, OutputLoss
from edge_pipeline.distillation.losses import UNLABELLED, cosine_loss, kd_loss, soft_target_loss
from edge_pipeline.distillation.outputs import (
    OutputInfo,
    build_output_losses,
    check_outputs_match,
    classifier_losses,
    describe_outputs,
    named_outputs,
)
from edge_pipeline.errors import ConfigError

KD = KDLoss(temperature=3.0, alpha=0.6)
DETECTOR = [OutputInfo("logits", (2, 4), "float32", True), OutputInfo("boxes", (2, 4), "float32", True)]
ENCODER = [OutputInfo("embedding", (2, 32), "float32", True)]


def table(outputs, overrides=None, class_scores=None, declared=None):
    parsed = {name: OutputLoss.model_validate(spec) for name, spec in (overrides or {}).items()}
    return build_output_losses(outputs, class_scores, parsed, KD, declared, "distill.output_losses")


def test_defaults_kl_for_class_scores_and_mse_for_the_rest():
    terms = {t.output: t for t in table(DETECTOR, class_scores=["logits"]).terms}
    assert (terms["logits"].kind, terms["logits"].temperature, terms["logits"].hard_labels) == ("kl", 3.0, True)
    assert (terms["boxes"].kind, terms["boxes"].hard_labels) == ("mse", False)
    # class_score_outputs unset: every (batch, classes) float output is class scores; the first gets the labels
    judged = {t.output: (t.kind, t.hard_labels) for t in table(DETECTOR).terms}
    assert judged == {"logits": ("kl", True), "boxes": ("kl", False)}
    assert [(t.kind, t.hard_labels) for t in table(ENCODER, class_scores=[]).terms] == [("mse", False)]


def test_one_classifier_output_is_exactly_the_classic_kd_loss():
    student, teacher, labels = torch.randn(6, 5), torch.randn(6, 5), torch.tensor([0, 1, 2, UNLABELLED, 4, 0])
    built = table([OutputInfo("output", (6, 5), "float32", True)])
    assert torch.equal(built(student, teacher, labels), kd_loss(student, teacher, labels, KD))
    assert torch.equal(classifier_losses(KD)(student, teacher, labels), kd_loss(student, teacher, labels, KD))


def test_terms_are_weighted_and_paired_by_name():
    student = {"logits": torch.randn(4, 4), "boxes": torch.rand(4, 4)}
    teacher = {"logits": torch.randn(4, 4), "boxes": torch.rand(4, 4)}
    unlabelled = torch.full((4,), UNLABELLED)
    built = table(DETECTOR, {"logits": {"kind": "kl", "temperature": 2.0}, "boxes": {"kind": "mse", "weight": 0.5}},
                  class_scores=["logits"])
    expected = soft_target_loss(student["logits"], teacher["logits"], 2.0) + 0.5 * F.mse_loss(student["boxes"],
                                                                                          teacher["boxes"])
    assert built(student, teacher, unlabelled).item() == pytest.approx(expected.item(), rel=1e-6)
    # a dict returned in another key order pairs by name, not position
    reordered = {"boxes": teacher["boxes"], "logits": teacher["logits"]}
    assert built(student, reordered, unlabelled).item() == pytest.approx(expected.item(), rel=1e-6)
    assert built.meta()["outputs"]["boxes"] == {"kind": "mse", "weight": 0.5, "hard_labels": False}


def test_hard_labels_mix_into_the_first_class_score_output_only():
    student = {"logits": torch.randn(4, 4), "boxes": torch.rand(4, 4)}
    teacher = {"logits": torch.randn(4, 4), "boxes": torch.rand(4, 4)}
    labels = torch.tensor([0, 1, 2, 3])
    built = table(DETECTOR, class_scores=["logits"])
    parts = built.per_output(student, teacher, labels)
    assert parts["logits"].item() == pytest.approx(kd_loss(student["logits"], teacher["logits"], labels, KD).item())
    assert parts["boxes"].item() == pytest.approx(F.mse_loss(student["boxes"], teacher["boxes"]).item())


def test_cosine_ignores_scale_and_mse_does_not():
    embedding = torch.randn(3, 8)
    built = table(ENCODER, {"embedding": {"kind": "cosine"}}, declared=["embedding"])
    assert built(embedding * 5.0, embedding, torch.full((3,), UNLABELLED)).item() == pytest.approx(0.0, abs=1e-6)
    assert cosine_loss(embedding, -embedding).item() == pytest.approx(2.0, abs=1e-6)
    assert table(ENCODER, declared=["embedding"])(embedding * 5.0, embedding, torch.full((3,), UNLABELLED)).item() > 1.0


def test_unknown_output_is_named_with_the_model_outputs():
    with pytest.raises(ConfigError, match=r"names output 'box'.*its outputs are \['logits', 'boxes'\]") as caught:
        table(DETECTOR, {"box": {"kind": "mse"}})
    assert "\n" not in str(caught.value)


def test_integer_outputs_are_skipped_and_cannot_be_configured():
    outputs = [*ENCODER, OutputInfo("token_count", (2,), "int64", False)]
    built = table(outputs, class_scores=[])
    assert [t.output for t in built.terms] == ["embedding"] and built.skipped == ("token_count",)
    with pytest.raises(ConfigError, match=r"output 'token_count' is int64"):
        table(outputs, {"token_count": {"kind": "mse"}})


def test_kl_needs_class_scores_and_weight_zero_drops_an_output():
    with pytest.raises(ConfigError, match=r"kind=kl needs class scores.*\[1\]"):
        table([OutputInfo("pitch", (2, 1), "float32", True)], {"pitch": {"kind": "kl"}})
    built = table(DETECTOR, {"boxes": {"kind": "mse", "weight": 0}})
    assert [t.output for t in built.terms] == ["logits"] and built.skipped == ("boxes",)
    with pytest.raises(ConfigError, match="no output to distil"):
        table(ENCODER, {"embedding": {"kind": "mse", "weight": 0}})


def test_output_loss_config_is_strict():
    with pytest.raises(ValueError, match="temperature applies to kind=kl only"):
        OutputLoss(kind="mse", temperature=2.0)
    with pytest.raises(ValueError):
        OutputLoss.model_validate({"kind": "huber"})
    config = DistillConfig.model_validate({"output_losses": {"boxes": {"kind": "mse", "weight": 0.5}}})
    assert DistillConfig.model_validate_json(config.model_dump_json()) == config


def test_outputs_are_named_as_export_names_them_and_shapes_must_match():
    from edge_pipeline.testing.kit import TwoHeadDetector, tiny_encoder

    image = torch.randn(2, 3, 16, 16)
    assert [o.name for o in describe_outputs(TwoHeadDetector(), image, None)] == ["logits", "boxes"]
    assert list(named_outputs((torch.zeros(1), torch.ones(1)), ["a", "b"])) == ["a", "b"]
    tokens = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    teacher = describe_outputs(tiny_encoder(dim=32), tokens, ["embedding"])
    check_outputs_match(describe_outputs(tiny_encoder(dim=32, layers=1), tokens, ["embedding"]), teacher, "s")
    expected = r"outputs \[2, 16\] \(output 'embedding'\) but the teacher outputs \[2, 32\]"
    with pytest.raises(ConfigError, match=expected):
        check_outputs_match(describe_outputs(tiny_encoder(dim=16), tokens, ["embedding"]), teacher, "s")


def test_taylor_scoring_loss_has_gradients_even_on_the_teacher_itself():
    from edge_pipeline.testing.kit import tiny_encoder

    model = tiny_encoder(dim=16, layers=1).train()
    tokens = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    with torch.no_grad():
        reference = model(*tokens)
    built = table([OutputInfo("embedding", (2, 16), "float32", True)], declared=["embedding"])
    built.scoring_loss(model(*tokens), reference, None).backward()
    assert model.blocks[0].mlp[0].weight.grad.abs().sum() > 0
