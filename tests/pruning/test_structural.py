"""Structural pruning on a residual CNN, MobileNetV2-style depthwise blocks and a transformer."""

import pytest
import torch

from edge_pipeline.config.shrink import PruneConfig
from edge_pipeline.errors import ConfigError
from edge_pipeline.pruning.architecture import describe, load_module, save_module
from edge_pipeline.pruning.channels import count_macs_params, ignored_names, prune_channels, ratio_for_macs
from edge_pipeline.pruning.importance import accumulate_taylor_gradients
from edge_pipeline.pruning.plan import check_reachable
from edge_pipeline.zoo.resnet import SmallResNet
from edge_pipeline.zoo.students import tiny_mobilenet_v2, tiny_vision_transformer

EXAMPLE = torch.randn(2, 1, 16, 16)
FAMILIES = {
    "resnet": lambda: SmallResNet((8, 16, 32)).eval(),
    "mobilenetv2": lambda: tiny_mobilenet_v2(widths=(8, 16, 16), expand=2).eval(),
    "transformer": lambda: tiny_vision_transformer(dim=32, depth=1, num_heads=4).eval(),
}


def conv_and_linear(model):
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("scope", ["global", "uniform"])
def test_macs_budget_is_met_and_channels_are_really_removed(family, scope):
    model = FAMILIES[family]()
    config = PruneConfig(scope=scope, round_to=4)
    ignored = ignored_names(model, config, EXAMPLE)
    before, params_before = count_macs_params(model, EXAMPLE)
    budget = int(0.4 * before)
    ratio = ratio_for_macs(model, EXAMPLE, config, ignored, budget, "test")
    prune_channels(model, EXAMPLE, config, ratio, ignored)
    after, params_after = count_macs_params(model, EXAMPLE)
    assert after <= budget and params_after < params_before
    assert model(EXAMPLE).shape == (2, 10)
    head = conv_and_linear(model)[ignored[-1]]
    assert head.out_features == 10  # the classifier keeps its outputs


def test_round_to_keeps_channel_multiples_on_depthwise_blocks():
    model = FAMILIES["mobilenetv2"]()
    config = PruneConfig(scope="uniform", round_to=8)
    prune_channels(model, EXAMPLE, config, 0.4, ignored_names(model, config, EXAMPLE))
    for name, module in conv_and_linear(model).items():
        if isinstance(module, torch.nn.Conv2d) and name != "stem.0":
            assert module.out_channels % 8 == 0, (name, module)
        if isinstance(module, torch.nn.Conv2d) and module.groups > 1:  # depthwise stays depthwise
            assert module.groups == module.in_channels == module.out_channels


def test_transformer_heads_stay_and_head_dims_shrink():
    model = FAMILIES["transformer"]()
    config = PruneConfig(scope="uniform", round_to=4)
    prune_channels(model, EXAMPLE, config, 0.5, ignored_names(model, config, EXAMPLE))
    for block in model.blocks:
        assert block.attn.num_heads == 4
        assert block.attn.qkv.out_features % (3 * 4) == 0 and block.attn.qkv.out_features < 96
        assert block.fc1.out_features < 64
    assert model(EXAMPLE).shape == (2, 10)


@pytest.mark.parametrize("criterion", ["l1", "l2", "taylor", "bn_scale"])
def test_every_importance_criterion_prunes(criterion):
    model = FAMILIES["resnet"]()
    config = PruneConfig(importance=criterion, scope="global", round_to=4)
    with torch.no_grad():  # freshly built BN scales are all 1: give bn_scale something to rank
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.weight.uniform_(0.1, 1.0)
    if criterion == "taylor":
        accumulate_taylor_gradients(model, [(EXAMPLE, torch.tensor([1, 2]))])
    before, _ = count_macs_params(model, EXAMPLE)
    prune_channels(model, EXAMPLE, config, 0.5, ignored_names(model, config, EXAMPLE))
    assert count_macs_params(model, EXAMPLE)[0] < before


def test_pruned_model_reloads_from_architecture_and_weights(tmp_path):
    model = FAMILIES["resnet"]()
    config = PruneConfig(scope="global", round_to=4)
    prune_channels(model, EXAMPLE, config, 0.6, ignored_names(model, config, EXAMPLE))
    files = save_module(model, tmp_path, "pruned")
    rebuilt = load_module(FAMILIES["resnet"](), tmp_path, files)
    assert describe(rebuilt)["shapes"] == describe(model)["shapes"]
    torch.testing.assert_close(rebuilt(EXAMPLE), model(EXAMPLE))


def test_budget_that_needs_every_channel_removed_is_refused_before_training():
    model = FAMILIES["resnet"]()
    config = PruneConfig.model_validate({"target": {"kind": "macs", "macs_fraction": 0.001}, "round_to": 8})
    with pytest.raises(ConfigError, match=r"macs_fraction=0.001 cannot be met.*raise macs_fraction"):
        check_reachable(model, FAMILIES["resnet"](), EXAMPLE, config)


def test_unknown_ignored_layer_is_named():
    model = FAMILIES["resnet"]()
    with pytest.raises(ConfigError, match=r"prune.ignored_layers.*classifier"):
        ignored_names(model, PruneConfig(ignored_layers=["classifier"]), EXAMPLE)


def test_bn_scale_needs_batchnorm():
    from edge_pipeline.testing.tiny import example_inputs, tiny_residual_net

    with pytest.raises(ConfigError, match="no BatchNorm"):
        check_reachable(tiny_residual_net(), tiny_residual_net(), example_inputs()[0],
                        PruneConfig(importance="bn_scale"))


TOKENS = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))


def encoder():
    from edge_pipeline.testing.kit import tiny_encoder

    return tiny_encoder(dim=32, heads=4, layers=2)


@pytest.mark.parametrize(("attention", "heads", "qkv_out"), [("heads", 2, 48), ("both", 2, 24),
                                                             ("head_dims", 4, 48), ("none", 4, 96)])
@pytest.mark.parametrize("scope", ["global", "uniform"])
def test_encoder_loses_heads_and_mlp_channels_but_keeps_its_embedding_width(attention, heads, qkv_out, scope):
    model = encoder()
    config = PruneConfig(scope=scope, round_to=4, attention=attention)
    ignored = ignored_names(model, config, TOKENS)
    assert ignored == ["blocks.0.proj", "blocks.0.mlp.2", "blocks.1.proj", "blocks.1.mlp.2"]  # the residual writers
    _, params_before = count_macs_params(model, TOKENS)
    prune_channels(model, TOKENS, config, 0.5, ignored)
    for block in model.blocks:
        assert block.heads == heads and block.qkv.out_features == qkv_out
        assert block.qkv.out_features % (3 * block.heads) == 0 and block.proj.in_features == qkv_out // 3
        assert block.mlp[0].out_features < 64 and block.mlp[2].out_features == 32
        assert block.norm1.normalized_shape == (32,)
    assert model.tokens.embedding_dim == 32 and count_macs_params(model, TOKENS)[1] < params_before
    assert model(*TOKENS).shape == (2, 32)


def test_whole_heads_go_with_their_query_key_and_value_rows():
    model, original = encoder(), encoder()
    config = PruneConfig(scope="uniform", round_to=4, attention="heads")
    prune_channels(model, TOKENS, config, 0.5, ignored_names(model, config, TOKENS))
    for before, after in zip(original.blocks, model.blocks, strict=True):
        rows = [int((before.qkv.weight - row).abs().sum(dim=1).argmin()) for row in after.qkv.weight]
        heads = sorted({row % 32 // 8 for row in rows})  # (3, heads, head_dim) layout, head_dim 8
        assert len(heads) == 2 and rows == [part * 32 + h * 8 + i for part in range(3) for h in heads for i in range(8)]
        columns = [int((before.proj.weight.T - c).abs().sum(dim=1).argmin()) for c in after.proj.weight.T]
        assert columns == [h * 8 + i for h in heads for i in range(8)]


def test_one_head_always_stays():
    model = encoder()
    config = PruneConfig(scope="uniform", round_to=4, attention="heads", max_layer_ratio=0.95)
    prune_channels(model, TOKENS, config, 0.95, ignored_names(model, config, TOKENS))
    assert [block.heads for block in model.blocks] == [1, 1]
    assert model(*TOKENS).shape == (2, 32)


def test_pruned_encoder_reloads_with_its_head_counts(tmp_path):
    model = encoder()
    config = PruneConfig(scope="global", round_to=4, attention="both")
    prune_channels(model, TOKENS, config, 0.5, ignored_names(model, config, TOKENS))
    rebuilt = load_module(encoder(), tmp_path, save_module(model, tmp_path, "pruned"))
    assert [b.heads for b in rebuilt.blocks] == [b.heads for b in model.blocks] == [2, 2]
    torch.testing.assert_close(rebuilt(*TOKENS), model(*TOKENS))


def test_taylor_ranks_encoder_channels_with_the_distillation_loss():
    from edge_pipeline.distillation.outputs import OutputInfo, build_output_losses
    from edge_pipeline.pruning.schedule import taylor_loss

    model, teacher = encoder(), encoder()
    losses = build_output_losses([OutputInfo("embedding", (2, 32), "float32", True)], [], {},
                                 PruneConfig().recovery.kd, ["embedding"], "prune.recovery.output_losses")
    accumulate_taylor_gradients(model, [(TOKENS, None)], taylor_loss(losses, teacher))
    assert all(p.grad is not None for p in model.blocks[0].mlp.parameters())
    config = PruneConfig(importance="taylor", scope="uniform", round_to=4, attention="heads")
    prune_channels(model, TOKENS, config, 0.5, ignored_names(model, config, TOKENS))
    assert [block.heads for block in model.blocks] == [2, 2] and model(*TOKENS).shape == (2, 32)


def test_detector_keeps_both_heads_and_loses_feature_channels():
    from edge_pipeline.testing.kit import TwoHeadDetector

    model, image = TwoHeadDetector().eval(), torch.randn(2, 3, 16, 16)
    config = PruneConfig(scope="global", round_to=4)
    ignored = ignored_names(model, config, image)
    assert ignored == ["classify", "regress"]
    budget = int(0.5 * count_macs_params(model, image)[0])
    params_before = count_macs_params(model, image)[1]
    prune_channels(model, image, config, ratio_for_macs(model, image, config, ignored, budget, "test"), ignored)
    macs, params = count_macs_params(model, image)
    assert macs <= budget and params < params_before
    assert (model.classify.out_features, model.regress.out_features) == (4, 4)
    outputs = model(image)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {"logits": (2, 4), "boxes": (2, 4)}
