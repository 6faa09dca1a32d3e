"""A toy backend living in the tests: onnx's numpy reference evaluator as the runtime, and a folder
artifact (``model.npref/``: the ONNX file and a note) as its format. INT8 here rounds each weight
tensor to a symmetric 8-bit grid, so the pipeline sees a real (if slow) accuracy change.

It proves that a backend is one subpackage plus one registry row: nothing in edge_pipeline names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from pydantic import Field

from edge_pipeline.backends.base import Backend, InputInfo, ProducedArtifact, Runner, RunnerOptions
from edge_pipeline.backends.registry import ArtifactFormat, BackendDescriptor
from edge_pipeline.config.base import StrictModel

KIND = "numpy-reference"
FOLDER = "model.npref"


class ToyOptions(StrictModel):
    weight_bits: int = Field(8, ge=2, le=16, description="Grid the INT8 artifact rounds weights to.")


DESCRIPTOR = BackendDescriptor(
    name="toy-numpy",
    backend="tests.backends.toy.backend:ToyBackend",
    extra="test",
    device_extra="test",
    runtime_module="onnx",
    probe_modules=("onnx",),
    packages=("onnx",),
    formats=(ArtifactFormat(KIND, (".npref",), directory=True),),
    options="tests.backends.toy.backend:ToyOptions",
)


class ToyRunner(Runner):
    def load(self) -> None:
        model = onnx.load(str(self.path / "model.onnx"))
        self.session = ReferenceEvaluator(model)
        self._inputs = [InputInfo(i.name, tuple(d.dim_value or None for d in i.type.tensor_type.shape.dim), "float32")
                        for i in model.graph.input]
        self._outputs = [o.name for o in model.graph.output]


    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(None, feed))


class ToyBackend(Backend):
    name = "toy-numpy"

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"onnx-reference": onnx.__version__}

    def runner(self, path: Path, options: RunnerOptions) -> Runner:
        return ToyRunner(path, options)

    def prepare_fp32(self, onnx_path: Path, target, out_dir: Path) -> list[ProducedArtifact]:
        return [_write(onnx.load(str(onnx_path)), Path(out_dir), "fp32")]

    def quantize(self, onnx_path: Path, dataset, config, target, out_dir: Path,
                 eval_data=None, metric=None) -> list[ProducedArtifact]:
        model = onnx.load(str(onnx_path))
        bits = ToyOptions.model_validate(target.options).weight_bits
        for index, tensor in enumerate(model.graph.initializer):
            values = numpy_helper.to_array(tensor)
            if values.dtype == np.float32 and values.ndim > 1:
                model.graph.initializer[index].CopyFrom(numpy_helper.from_array(_round(values, bits), tensor.name))
        return [_write(model, Path(out_dir), "int8", {"weight_bits": bits})]


def _round(values: np.ndarray, bits: int) -> np.ndarray:
    scale = np.abs(values).max() / (2 ** (bits - 1) - 1) or 1.0
    return (np.round(values / scale) * scale).astype(np.float32)


def _write(model: onnx.ModelProto, out_dir: Path, precision: str, meta: dict | None = None) -> ProducedArtifact:
    folder = out_dir / FOLDER
    folder.mkdir(parents=True)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "note.json").write_text(json.dumps({"precision": precision, **(meta or {})}))
    return ProducedArtifact(folder, KIND, precision, meta=meta or {})
