"""The run's datasets, each loaded once and validated against the recipe's input spec."""

from __future__ import annotations

from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.readers import load_dataset
from edge_pipeline.config.schema import Recipe


class RunData:
    """Loads on first use and keeps what it loaded (the engine makes one per run)."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self._loaded: dict[str, ArrayDataset] = {}

    def calibration(self) -> ArrayDataset:
        return self._load("calibration")

    def eval(self) -> ArrayDataset | None:
        return None if self.recipe.data.eval is None else self._load("eval")

    def transfer(self, spec, setting: str) -> ArrayDataset:
        """Distillation / recovery data (``spec``: a TransferData); ``setting`` names the recipe key in errors."""
        from edge_pipeline.shrinking.data import load_transfer

        key = f"transfer:{spec.model_dump_json()}"
        if key not in self._loaded:
            self._loaded[key] = load_transfer(spec, self.recipe.input_specs, setting)
        return self._loaded[key]

    def _load(self, role: str) -> ArrayDataset:
        if role not in self._loaded:
            spec = getattr(self.recipe.data, role)
            self._loaded[role] = load_dataset(spec, self.recipe.input_specs, role)
        return self._loaded[role]
