"""What a trained stage's result depends on beyond the recipe, tools and code, read without torch."""

from __future__ import annotations

from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import ModelSpec


def training_material(teacher: ModelSpec, transfer: ArrayDataset, evaluation: ArrayDataset | None) -> dict:
    """The teacher's source and weights, and the content of the data the stage trains on and is
    scored on: the engine's replay key material for distill and prune."""
    from edge_pipeline.modeling.loading import model_source_digest

    return {"teacher": model_source_digest(teacher), "data": transfer.sha256,
            "eval": None if evaluation is None else evaluation.sha256}
