"""The run's datasets, each loaded once and validated against the recipe's input spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.layout import Layout
from edge_pipeline.calibration.readers import load_dataset
from edge_pipeline.config.schema import Recipe
from edge_pipeline.progress import progress

OutputShapes = Mapping[str, Sequence[int | None]]  # output name -> per-sample shape (None: a symbolic dim)


class RunData:
    """Loads on first use and keeps what it loaded (the engine makes one per run).

    Data that loads but looks wrong (too few samples, a constant input) is warned about on stderr
    once and kept in ``notes`` for the run's report.
    """

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self._loaded: dict[str, ArrayDataset] = {}
        self._transfer: dict[str, tuple[ArrayDataset, str]] = {}  # key -> (data, recipe setting)
        self.notes: list[str] = []
        self._taken = 0

    def calibration(self) -> ArrayDataset:
        return self._load("calibration")

    def eval(self) -> ArrayDataset | None:
        return None if self.recipe.data.eval is None else self._load("eval")

    def transfer(self, spec, setting: str) -> ArrayDataset:
        """Distillation / recovery data (``spec``: a TransferData); ``setting`` names the recipe key in errors."""
        from edge_pipeline.config.shrink import missing_data_error
        from edge_pipeline.errors import ConfigError
        from edge_pipeline.shrinking.data import load_transfer

        if not spec.names_data:  # a loaded recipe refuses this already; a Recipe built in code may not
            raise ConfigError(missing_data_error(setting))
        key = f"transfer:{spec.model_dump_json()}"
        if key not in self._loaded:
            self._loaded[key] = self._warned(load_transfer(spec, self.recipe.input_specs, setting), setting)
            self._transfer[key] = (self._loaded[key], setting)
        return self._loaded[key]

    def take_notes(self) -> list[str]:
        """Notes added since the last call (the engine moves them into the run's notes after each stage)."""
        new = self.notes[self._taken :]
        self._taken = len(self.notes)
        return new

    def check_labels(self, outputs: OutputShapes) -> None:
        """Labels must index the model's classes: eval labels the output accuracy reads (the first
        output, when it holds class scores), transfer labels the first class-score output (hard-label
        CE). Called by a stage as soon as it knows the output shapes, before training or quantizing."""
        accuracy_output = self._scored_output(outputs, first_only=True)
        evaluation = self.eval()
        if accuracy_output is not None and evaluation is not None and class_labels(evaluation):
            classes = outputs[accuracy_output][0]
            if classes is not None:
                evaluation.check_label_range(int(classes), accuracy_output, "eval")
        ce_output = self._scored_output(outputs, first_only=False)
        classes = None if ce_output is None else outputs[ce_output][0]
        if ce_output is None or classes is None:
            return
        for data, setting in self._transfer.values():
            data.check_label_range(int(classes), ce_output, setting, allow_unlabelled=True)

    def _scored_output(self, outputs: OutputShapes, first_only: bool) -> str | None:
        """The benchmark's rule: class_score_outputs when the recipe lists them, else (batch, classes >= 2)."""
        listed = self.recipe.class_score_outputs
        for index, (name, shape) in enumerate(outputs.items()):
            if index and first_only:
                return None
            scores = name in listed if listed is not None else len(shape) == 1 and (shape[0] is None or shape[0] >= 2)
            if scores and len(shape) == 1:
                return name
        return None

    def _load(self, role: str) -> ArrayDataset:
        if role not in self._loaded:
            spec = getattr(self.recipe.data, role)
            data = load_dataset(spec, self.recipe.input_specs, role, float_labels=float_labels_allowed(self.recipe))
            self._loaded[role] = self._warned(data.laid_out(recipe_layout(self.recipe)), role)
        return self._loaded[role]

    def _warned(self, data: ArrayDataset, role: str) -> ArrayDataset:
        for warning in data.warnings(role):
            progress("data", f"warning: {warning}")
            self.notes.append(warning)
        return data


def recipe_layout(recipe: Recipe) -> Layout:
    """The recipe's batch axes (inputs and outputs) and state pairs, as every evaluation takes them."""
    outputs = {name: recipe.output_batch_axis(name) for name in recipe.outputs or []}
    return Layout(inputs={spec.name: spec.batch_axis for spec in recipe.input_specs},
                  outputs={name: axis for name, axis in outputs.items() if axis != 0}, state=dict(recipe.state))


def float_labels_allowed(recipe: Recipe) -> bool:
    """A regression target (a pitch in Hz) reaches the recipe's metric; without a metric, or with outputs
    named as class scores, labels are class indices."""
    return recipe.metric is not None and not recipe.class_score_outputs


def class_labels(data: ArrayDataset) -> bool:
    """Whether ``data``'s labels are class indices (accuracy applies)."""
    return data.labels is not None and not np.issubdtype(data.labels.dtype, np.floating)
