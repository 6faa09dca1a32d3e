"""Dataset specs shared by the recipe schema and the shrink-stage configs.

A leaf module (it imports only config.base and config.bounds) so that schema.py can import shrink.py and
both can use DatasetSpec without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.bounds import UserCodeSeconds


class DatasetSpec(StrictModel):
    path: Path | None = Field(
        None, description="A .npz/.npy file or a folder of images (see edge_pipeline/calibration_data/README.md)."
    )
    provider: str | None = Field(
        None, description="'package.module:function' instead of a file: returns {input name: (N, ...) array} "
        "(plus labels under labels_key), an (inputs, labels) tuple, or an iterable of such dicts (samples or "
        "batches)."
    )
    provider_timeout_s: UserCodeSeconds = Field(
        600.0, description="Seconds the provider may take to return its data (default 600); past it the run ends "
        "with an error naming the line it was at."
    )
    format: Literal["auto", "npz", "npy", "images"] = Field("auto", description="How to read 'path'.")
    inputs_key: str = Field("x", description="Array name of the model inputs inside a .npz.")
    labels_key: str = Field("y", description="Array name of integer labels inside a .npz (optional).")
    limit: int | None = Field(None, gt=0, description="Use at most this many samples.")
    mean: list[float] = Field(default_factory=lambda: [0.0], description="Image preprocessing: per-channel mean.")
    std: list[float] = Field(default_factory=lambda: [1.0], description="Image preprocessing: per-channel std.")

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if (self.path is None) == (self.provider is None):
            raise ValueError("set exactly one of 'path' (a .npz/.npy file or image folder) or 'provider' "
                             "('package.module:function')")
        return self
