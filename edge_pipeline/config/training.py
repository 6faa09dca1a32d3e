from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.bounds import BatchSize, Epochs, Threads


class TrainConfig(StrictModel):
    """Settings shared by every training loop (teacher training, distillation, recovery)."""

    epochs: Epochs = Field(8, description="Passes over the training data.")
    batch_size: BatchSize = Field(64, description="Per-process batch size.")
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="Optimizer.")
    lr: float = Field(0.1, gt=0, description="Peak learning rate.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float = Field(5e-4, ge=0, description="Decoupled (adamw) or L2 (sgd) weight decay.")
    schedule: Literal["onecycle", "cosine", "constant"] = Field("onecycle", description="LR schedule per step.")
    seed: int = Field(0, description="Seed for init, shuffling and augmentation.")
    shift_augment: int = Field(0, ge=0, description="Random translation in pixels (0 = off).")
    threads: Threads | None = Field(None, description="torch intra-op threads (default: torch's choice).")
