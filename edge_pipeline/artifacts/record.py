"""What the pipeline knows about one produced file: where, what, from which parent, how."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Artifact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    id: str = Field(description="Unique name in the run, e.g. 'teacher.onnx.fp32'.")
    kind: str = Field(description="Format: 'onnx', 'ort', 'openvino-ir', 'torch-program', 'tensorrt-engine', ...")
    path: Path = Field(description="Absolute path while the run is going; relative inside a bundle.")
    stage: str = Field(description="Stage that produced it.")
    parent: str | None = Field(None, description="Artifact id it was made from.")
    model: str = Field("model", description="Model lineage name: 'teacher', 'student', ...")
    precision: str = Field("fp32", description="Numeric precision of the weights/compute.")
    backend: str | None = Field(None, description="Runtime that executes it, when specific.")
    target: str | None = Field(None, description="Target profile it was made for, when specific.")
    sha256: str = ""
    size_bytes: int = 0
    config: dict = Field(default_factory=dict, description="Snapshot of the stage config that made it.")
    meta: dict = Field(default_factory=dict, description="Params, MACs, opset, quantization details, ...")
