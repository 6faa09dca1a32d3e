"""Each kind of bad input: one-line error naming the thing and the fix, non-zero exit, no bundle."""

import numpy as np
import torch

from edge_pipeline.cli.main import main
from tests.conftest import tiny_recipe_dict, write_recipe


def run_cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_clean_failure(code, err, out_dir, *needles):
    assert code != 0
    message = err.strip().splitlines()[-1]
    assert message.startswith("error: ")
    for needle in needles:
        assert needle in err, err
    assert not out_dir.exists(), "a failed run must not leave a bundle"
    assert not list(out_dir.parent.glob(f".{out_dir.name}.*")), "no temp leftovers"


def test_unknown_recipe_key(tmp_path, tiny_data, capsys):
    data = tiny_recipe_dict(tiny_data)
    data["exprt"] = {}
    recipe = write_recipe(tmp_path / "r.yaml", data)
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    assert code == 2
    assert_clean_failure(code, err, tmp_path / "b", "unknown key 'exprt'", "r.yaml")


def test_factory_that_does_not_import(tmp_path, tiny_data, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, model={"factory": "no_such_pkg.models:net"}))
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    assert_clean_failure(code, err, tmp_path / "b", "no_such_pkg.models:net", "does not import")


def test_checkpoint_that_does_not_fit(tmp_path, tiny_data, capsys):
    from edge_pipeline.testing.tiny import tiny_residual_net

    checkpoint = tmp_path / "wide.pt"
    torch.save(tiny_residual_net(width=16).state_dict(), checkpoint)
    model = {"factory": "edge_pipeline.testing.tiny:tiny_residual_net", "checkpoint": str(checkpoint)}
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, model=model))
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    assert_clean_failure(code, err, tmp_path / "b", "wide.pt", "does not fit")


def test_checkpoint_loads_from_safetensors(tmp_path, tiny_data, capsys):
    from safetensors.torch import save_file

    from edge_pipeline.testing.tiny import tiny_residual_net

    checkpoint = tmp_path / "w.safetensors"
    save_file(tiny_residual_net(seed=5).state_dict(), str(checkpoint))
    model = {"factory": "edge_pipeline.testing.tiny:tiny_residual_net", "checkpoint": str(checkpoint)}
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, model=model, stages=["export"]))
    code, _ = run_cli(capsys, "export", str(recipe), "--out", str(tmp_path / "b"))
    assert code == 0 and (tmp_path / "b" / "manifest.json").is_file()


def test_wrong_input_shape(tmp_path, tiny_data, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, input={"shape": [1, 5, 8, 8]}))
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    # Data is checked against the declared shape before any model work starts.
    assert_clean_failure(code, err, tmp_path / "b", "[5, 8, 8]", "input.shape", "calibration.npz")


def test_model_rejects_declared_shape(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((16, 5, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "c.npz", x=x)
    data = {
        "metadata": {"name": "t"},
        "model": {"factory": "edge_pipeline.testing.tiny:tiny_residual_net"},
        "input": {"shape": [1, 5, 8, 8]},
        "data": {"calibration": {"path": str(tmp_path / "c.npz")}},
    }
    recipe = write_recipe(tmp_path / "r.yaml", data)
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    assert_clean_failure(code, err, tmp_path / "b", "input.shape [1, 5, 8, 8]", "fix input.shape")


def test_empty_calibration_data(tmp_path, tiny_data, capsys):
    np.savez(tiny_data["calibration"], x=np.zeros((0, 3, 8, 8), np.float32))
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data))
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    assert_clean_failure(code, err, tmp_path / "b", "calibration.npz", "no samples")


def test_misshaped_calibration_data(tmp_path, tiny_data, capsys):
    np.savez(tiny_data["calibration"], x=np.zeros((4, 3, 9, 9), np.float32))
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data))
    code, err = run_cli(capsys, "run", str(recipe), "--out", str(tmp_path / "b"))
    assert_clean_failure(code, err, tmp_path / "b", "[3, 9, 9]", "[3, 8, 8]")


def test_onnx_the_checker_rejects(tmp_path, tiny_data, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"definitely not protobuf")
    out = tmp_path / "q"
    code, err = run_cli(capsys, "quantize", str(broken), "--calibration", str(tiny_data["calibration"]),
                        "--out", str(out))
    assert_clean_failure(code, err, out, "broken.onnx")


def test_quantize_command_on_explicit_files(tmp_path, tiny_data, capsys):
    from edge_pipeline.config.schema import ExportConfig, InputSpec
    from edge_pipeline.modeling.onnx_export import export_onnx
    from edge_pipeline.testing.tiny import labelled_arrays, tiny_residual_net

    fp32 = tmp_path / "m.onnx"
    export_onnx(tiny_residual_net(), InputSpec(shape=[1, 3, 8, 8]), ExportConfig(), fp32, labelled_arrays(8)[0])
    out = tmp_path / "q"
    # 512 histogram bins, not the default 2048: ORT's entropy search is quadratic in the bins (9.1 s
    # at 2048, 1.3 s at 512 on the tiny net) and this test is about the command, not the search.
    code = main(["quantize", str(fp32), "--calibration", str(tiny_data["calibration"]), "--out", str(out),
                 "--set", "quantize.method=entropy", "--set", "quantize.num_bins=512"])
    assert code == 0 and (out / "model.int8.onnx").is_file() and (out / "quantize.json").is_file()
