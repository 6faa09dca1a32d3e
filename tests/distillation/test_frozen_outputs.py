"""The frozen model's outputs computed once: the same values and the same training as calling it per
batch, one pass over the data instead of one per epoch, and the per-batch path where they can change."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from edge_pipeline.config.shrink import DistillConfig, KDLoss, PruneConfig
from edge_pipeline.config.training import TrainConfig
from edge_pipeline.distillation import frozen_outputs
from edge_pipeline.distillation.frozen_outputs import FrozenOutputs, IndexedDataset, precompute_applies
from edge_pipeline.distillation.outputs import OutputInfo, build_output_losses, classifier_losses
from edge_pipeline.distillation.trainer import distill
from edge_pipeline.pruning.schedule import recover
from edge_pipeline.shrinking.data import MultiInputDataset
from edge_pipeline.testing.kit import encoder_arrays, tiny_encoder
from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

KD = KDLoss(temperature=3.0, alpha=0.6)
SAMPLES = 44  # not a multiple of the chunk or batch sizes: the last ones are short


class LogitsAndFeatures(nn.Module):
    """A tuple-returning model: (class scores, pooled features)."""

    def __init__(self, seed: int):
        super().__init__()
        self.net = tiny_residual_net(width=8, seed=seed)

    def forward(self, x):
        features = torch.relu(self.net.stem(x)).mean(dim=(2, 3))
        return self.net(x), features


def image_dataset() -> TensorDataset:
    x, y = labelled_arrays(SAMPLES, seed=5)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def token_dataset() -> MultiInputDataset:
    arrays = encoder_arrays(SAMPLES, seed=2)
    return MultiInputDataset((torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"])),
                             torch.full((SAMPLES,), -1))


def encoder_table():
    return build_output_losses([OutputInfo("embedding", (2, 32), "float32", True)], [], {}, KD, ["embedding"],
                               "distill.output_losses")


def tuple_table():
    return build_output_losses([OutputInfo("output_0", (2, 4), "float32", True),
                                OutputInfo("output_1", (2, 8), "float32", True)], None, {}, KD, None,
                               "distill.output_losses")


@pytest.mark.parametrize("case", ["tuple", "encoder"])
def test_precomputed_outputs_equal_the_per_batch_forward(case):
    model, dataset, table = ((LogitsAndFeatures(seed=1).eval(), image_dataset(), tuple_table()) if case == "tuple"
                             else (tiny_encoder(seed=1), token_dataset(), encoder_table()))
    frozen = FrozenOutputs.compute(model, dataset, table.named, chunk=16)
    assert frozen is not None and len(frozen) == SAMPLES
    indices = torch.tensor([43, 0, 17, 16, 5])
    inputs, labels = dataset[indices]
    with torch.no_grad():
        value = model(*inputs) if isinstance(inputs, tuple) else model(inputs)
    looked_up, direct = frozen.lookup(indices), table.named(value)
    assert list(looked_up) == list(direct)
    for name in direct:
        torch.testing.assert_close(looked_up[name], direct[name], rtol=1e-5, atol=1e-6)
    # the table takes named outputs exactly as it takes the forward() result
    assert table.against_named(value, direct, labels).item() == table(value, value, labels).item()


def test_indexed_dataset_collates_labels_and_indices():
    loader = torch.utils.data.DataLoader(IndexedDataset(image_dataset()), batch_size=8, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    plain = torch.utils.data.DataLoader(image_dataset(), batch_size=8, shuffle=True,
                                        generator=torch.Generator().manual_seed(0))
    for (x, (labels, indices)), (x_plain, y_plain) in zip(loader, plain, strict=True):
        assert torch.equal(x, x_plain) and torch.equal(labels, y_plain)  # the same shuffled order
        assert torch.equal(image_dataset()[indices][0], x)


def test_precompute_only_where_outputs_cannot_change_and_it_saves_passes():
    train = TrainConfig(epochs=3, shift_augment=0)
    assert precompute_applies(train, uses_hints=False, world_size=1)
    assert not precompute_applies(TrainConfig(epochs=3, shift_augment=1), uses_hints=False, world_size=1)
    assert not precompute_applies(train, uses_hints=True, world_size=1)
    assert not precompute_applies(train, uses_hints=False, world_size=3)  # each rank pays a whole pass
    assert precompute_applies(train, uses_hints=False, world_size=2)


def test_outputs_over_the_memory_cap_are_not_kept(monkeypatch):
    model, table = LogitsAndFeatures(seed=1).eval(), tuple_table()
    per_sample = (4 + 8) * 4  # two float32 outputs of 4 and 8 values
    monkeypatch.setattr(frozen_outputs, "MAX_PRECOMPUTED_BYTES", per_sample * SAMPLES - 1)
    assert FrozenOutputs.compute(model, image_dataset(), table.named) is None
    monkeypatch.setattr(frozen_outputs, "MAX_PRECOMPUTED_BYTES", per_sample * SAMPLES)
    assert FrozenOutputs.compute(model, image_dataset(), table.named) is not None


class SampleCounter:
    def __init__(self, model: nn.Module):
        self.samples = 0
        model.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.samples += len(inputs[0])


def distill_tiny(tmp_path, name: str, **train):
    config = DistillConfig.model_validate(
        {"loss": {"temperature": 3.0, "alpha": 0.6},
         "train": {"epochs": 3, "batch_size": 8, "lr": 0.05, "threads": 1, "shift_augment": 0, **train}})
    teacher, student = tiny_residual_net(width=8, seed=1), tiny_residual_net(width=4, seed=2)
    calls = SampleCounter(teacher)
    distill(student, teacher, [], image_dataset(), config, tmp_path / name)
    return student, calls.samples


def assert_same_weights(a: nn.Module, b: nn.Module):
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def test_distill_trains_the_same_with_one_teacher_pass(tmp_path, monkeypatch):
    precomputed, passes = distill_tiny(tmp_path, "once")
    assert passes == SAMPLES  # one pass over the data, not one per epoch
    monkeypatch.setattr(frozen_outputs, "MAX_PRECOMPUTED_BYTES", 0)  # too large: the teacher runs per batch
    per_batch, passes = distill_tiny(tmp_path, "per-batch")
    assert passes == SAMPLES + 3 * SAMPLES  # the size probe (one chunk), then every epoch
    assert_same_weights(precomputed, per_batch)


def test_distill_runs_the_teacher_per_batch_with_shifted_inputs(tmp_path):
    _, passes = distill_tiny(tmp_path, "shifted", shift_augment=1)
    assert passes == 3 * SAMPLES


def test_distill_several_inputs_and_named_outputs_trains_the_same(tmp_path, monkeypatch):
    config = DistillConfig.model_validate({"train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "threads": 1,
                                                     "optimizer": "adamw", "shift_augment": 0}})

    def run(name: str) -> nn.Module:
        student = tiny_encoder(seed=3, layers=1)
        distill(student, tiny_encoder(seed=1), [], token_dataset(), config, tmp_path / name, encoder_table())
        return student

    precomputed = run("once")
    monkeypatch.setattr(frozen_outputs, "MAX_PRECOMPUTED_BYTES", 0)
    assert_same_weights(precomputed, run("per-batch"))


def test_recovery_kd_trains_the_same_with_one_pass_of_the_unpruned_model(tmp_path, monkeypatch):
    config = PruneConfig.model_validate({"recovery": {"loss": "kd", "train": {
        "epochs": 2, "batch_size": 8, "lr": 0.02, "schedule": "cosine", "threads": 1, "shift_augment": 0}}})

    def run(name: str) -> tuple[nn.Module, int]:
        model, unpruned = tiny_residual_net(width=4, seed=2), tiny_residual_net(width=8, seed=1)
        calls = SampleCounter(unpruned)
        recover(model, config, image_dataset(), unpruned, tmp_path / name, "prune step 1",
                losses=classifier_losses(config.recovery.kd))
        return model, calls.samples

    precomputed, passes = run("once")
    assert passes == SAMPLES
    monkeypatch.setattr(frozen_outputs, "MAX_PRECOMPUTED_BYTES", 0)
    per_batch, passes = run("per-batch")
    assert passes == SAMPLES + 2 * SAMPLES
    assert_same_weights(precomputed, per_batch)
