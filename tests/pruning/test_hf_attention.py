"""Structural pruning of a Hugging Face BERT (separate query/key/value Linears, ``num_attention_heads``):
whole heads and MLP channels go, the attention modules' sizes follow, and the result reloads."""

import pytest
import torch

from edge_pipeline.config.shrink import PruneConfig, StudentSpec
from edge_pipeline.pruning.architecture import load_module, save_module
from edge_pipeline.pruning.channels import count_macs_params, head_counts, ignored_names, prune_channels

pytest.importorskip("transformers")

HEAD = 16  # hidden 64 / 4 heads


def bert():
    from edge_pipeline.testing.public_kit import hf_bert_encoder

    return hf_bert_encoder()


def tokens():
    from edge_pipeline.testing.public_kit import token_arrays

    arrays = token_arrays(2, seed=3)
    return torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"])


def attention(model, layer: int):
    return model.encoder.layer[layer].attention.self


def run(model, example) -> torch.Tensor:
    with torch.no_grad():
        return model(*example).last_hidden_state  # (B, S, 64)


@pytest.mark.parametrize(("mode", "heads", "head_size"), [("heads", 2, 16), ("both", 2, 8), ("head_dims", 4, 8),
                                                          ("none", 4, 16)])
def test_bert_loses_heads_and_mlp_channels_and_its_sizes_follow(mode, heads, head_size):
    model, example = bert(), tokens()
    config = PruneConfig(scope="uniform", round_to=4, attention=mode)
    ignored = ignored_names(model, config, example)
    assert ignored == [f"encoder.layer.{i}.{n}" for i in (0, 1) for n in ("attention.output.dense", "output.dense")] \
        + ["pooler.dense"]  # the residual writers and the pooler keep the hidden width
    macs_before, params_before = count_macs_params(model, example)
    prune_channels(model, example, config, 0.5, ignored)
    assert head_counts(model) == {f"encoder.layer.{i}.attention.self": heads for i in (0, 1)}
    for i, layer in enumerate(model.encoder.layer):
        module = attention(model, i)
        assert (module.num_attention_heads, module.attention_head_size) == (heads, head_size)
        assert module.all_head_size == heads * head_size == module.query.out_features == module.key.out_features
        assert module.value.out_features == layer.attention.output.dense.in_features == heads * head_size
        assert layer.intermediate.dense.out_features == layer.output.dense.in_features == 64
    macs, params = count_macs_params(model, example)
    assert macs < macs_before and params < params_before
    assert run(model, example).shape == (2, 32, 64)


def test_a_removed_head_is_its_query_key_value_rows_and_output_columns():
    """Removing heads changes nothing but their contribution: the same as zeroing their value rows."""
    model, reference, example = bert(), bert(), tokens()
    config = PruneConfig(scope="uniform", round_to=4, attention="heads")
    mlp = [f"encoder.layer.{i}.intermediate.dense" for i in (0, 1)]  # kept whole: only the heads change outputs
    prune_channels(model, example, config, 0.5, ignored_names(model, config, example) + mlp)
    for i in (0, 1):
        before, after = attention(reference, i), attention(model, i)
        rows = [int((before.value.weight - row).abs().sum(dim=1).argmin()) for row in after.value.weight]
        kept = sorted({row // HEAD for row in rows})
        assert len(kept) == 2 and rows == [h * HEAD + j for h in kept for j in range(HEAD)]
        with torch.no_grad():
            for head in set(range(4)) - set(kept):
                before.value.weight[head * HEAD:(head + 1) * HEAD] = 0
                before.value.bias[head * HEAD:(head + 1) * HEAD] = 0
    torch.testing.assert_close(run(model, example), run(reference, example))


def test_pruned_bert_reloads_with_its_head_counts_and_sizes(tmp_path):
    model, example = bert(), tokens()
    config = PruneConfig(scope="global", round_to=4, attention="both")
    prune_channels(model, example, config, 0.5, ignored_names(model, config, example))
    rebuilt = load_module(bert(), tmp_path, save_module(model, tmp_path, "pruned"))
    assert head_counts(rebuilt) == head_counts(model)
    for i in (0, 1):
        assert attention(rebuilt, i).attention_head_size == attention(model, i).attention_head_size == 8
    torch.testing.assert_close(run(rebuilt, example), run(model, example))


def test_a_scaled_bert_student_keeps_every_head_with_narrower_heads():
    from edge_pipeline.config.schema import ModelSpec
    from edge_pipeline.distillation.student import build_student

    teacher, example = bert(), tokens()
    spec = ModelSpec(factory="edge_pipeline.testing.public_kit:hf_bert_encoder")
    student = build_student(spec, [], StudentSpec(width_multiplier=0.5, round_to=4), teacher, example).model
    assert head_counts(student) == {f"encoder.layer.{i}.attention.self": 4 for i in (0, 1)}
    assert attention(student, 0).attention_head_size == 8 and attention(student, 0).scaling == HEAD ** -0.5
    assert run(student, example).shape == (2, 32, 64)
