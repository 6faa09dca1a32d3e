"""Model inputs other than a plain factory: torch.export programs, checkpoints, image-folder data."""

import numpy as np
import pytest
import torch

from edge_pipeline.calibration.readers import load_dataset
from edge_pipeline.config.schema import DatasetSpec, InputSpec, ModelSpec
from edge_pipeline.errors import DataError, ModelLoadError
from edge_pipeline.modeling.loading import load_torch_model
from edge_pipeline.testing.tiny import example_inputs, tiny_residual_net


def test_torch_export_program_loads(tmp_path):
    model = tiny_residual_net()
    program = torch.export.export(model, example_inputs())
    path = tmp_path / "tiny.pt2"
    torch.export.save(program, str(path))
    loaded = load_torch_model(ModelSpec(program=path))
    x = example_inputs()[0]
    torch.testing.assert_close(loaded(x), model(x))


def test_pt_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"state_dict": tiny_residual_net(seed=7).state_dict()}, path)
    loaded = load_torch_model(ModelSpec(factory="edge_pipeline.testing.tiny:tiny_residual_net", checkpoint=path))
    x = example_inputs()[0]
    torch.testing.assert_close(loaded(x), tiny_residual_net(seed=7)(x))


def test_pickled_module_checkpoint_is_refused(tmp_path):
    path = tmp_path / "whole_model.pt"
    torch.save(tiny_residual_net(), path)  # a pickled nn.Module, not a state dict
    spec = ModelSpec(factory="edge_pipeline.testing.tiny:tiny_residual_net", checkpoint=path)
    with pytest.raises(ModelLoadError, match="weights_only"):
        load_torch_model(spec)


def test_factory_without_that_callable(tmp_path):
    with pytest.raises(ModelLoadError, match="has no callable 'nope'"):
        load_torch_model(ModelSpec(factory="edge_pipeline.testing.tiny:nope"))


def write_images(folder, labelled: bool):
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(6):
        sub = folder / (f"class{index % 2}" if labelled else "")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(sub / f"img{index}.png")


def test_image_folder_with_class_subfolders(tmp_path):
    write_images(tmp_path / "imgs", labelled=True)
    spec = DatasetSpec(path=tmp_path / "imgs", mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    data = load_dataset(spec, InputSpec(shape=[1, 3, 8, 8]), "calibration")
    assert data.inputs.shape == (6, 3, 8, 8) and data.inputs.dtype == np.float32
    assert sorted(set(data.labels.tolist())) == [0, 1]
    assert data.inputs.min() >= -2.0 - 1e-6 and data.inputs.max() <= 2.0 + 1e-6


def test_loose_images_are_unlabelled(tmp_path):
    write_images(tmp_path / "imgs", labelled=False)
    data = load_dataset(DatasetSpec(path=tmp_path / "imgs"), InputSpec(shape=[1, 1, 8, 8]), "calibration")
    assert data.labels is None and data.inputs.shape == (6, 1, 8, 8)


def test_empty_image_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(DataError, match="has no"):
        load_dataset(DatasetSpec(path=tmp_path / "imgs"), InputSpec(shape=[1, 3, 8, 8]), "calibration")


def test_npz_without_the_named_array(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(DataError, match="inputs_key"):
        load_dataset(DatasetSpec(path=tmp_path / "d.npz"), InputSpec(shape=[1, 3, 8, 8]), "calibration")
