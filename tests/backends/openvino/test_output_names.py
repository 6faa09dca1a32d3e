"""An IR's outputs are read by the names it declares: compiling the FPN detector merges an inner
tensor's name ('/Transpose_output_0') into its 'scores' output, which a runner picking any one
name of the compiled port would then report instead."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino")


def test_compiled_outputs_keep_the_onnx_names(tmp_path):
    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.config.recipes import load_target
    from edge_pipeline.testing.public_kit import write_fpn_detector_onnx

    write_fpn_detector_onnx(tmp_path / "detector.onnx", size=64)
    backend = get_backend("openvino")
    [ir] = backend.prepare_fp32(tmp_path / "detector.onnx", load_target("x86-cpu-openvino"), tmp_path / "ir")
    with backend.runner(ir.path, RunnerOptions(threads=1, variant="f32")) as runner:
        outputs = runner.infer({"images": np.zeros((1, 3, 64, 64), np.float32)})
    assert list(outputs) == ["scores", "boxes"]
    assert outputs["scores"].shape[-1] == 8 and outputs["boxes"].shape[-1] == 4
