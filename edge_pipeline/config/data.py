"""Dataset specs shared by the recipe schema and the shrink-stage configs.

A leaf module (it imports no other config module) so that schema.py can import shrink.py and
both can use DatasetSpec without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edge_pipeline.config.base import StrictModel


class DatasetSpec(StrictModel):
    path: Path = Field(description="A .npz/.npy file or a folder of images (see calibration_data/README.md).")
    format: Literal["auto", "npz", "npy", "images"] = Field("auto", description="How to read 'path'.")
    inputs_key: str = Field("x", description="Array name of the model inputs inside a .npz.")
    labels_key: str = Field("y", description="Array name of integer labels inside a .npz (optional).")
    limit: int | None = Field(None, gt=0, description="Use at most this many samples.")
    mean: list[float] = Field(default_factory=lambda: [0.0], description="Image preprocessing: per-channel mean.")
    std: list[float] = Field(default_factory=lambda: [1.0], description="Image preprocessing: per-channel std.")
