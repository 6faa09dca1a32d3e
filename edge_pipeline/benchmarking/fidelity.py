"""How close one model's outputs are to a reference's, per named output (numpy only).

cosine and SQNR fit any output (logits, embeddings, boxes, audio); top-1 agreement only outputs
that look like class scores: 2-D, float, two or more columns.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from edge_pipeline.errors import StageError

# JSON has no Infinity or NaN (strict parsers reject the file), so a non-finite SQNR is written as
# null with one of these reasons beside it, and read back from the reason.
SQNR_NOTES = {
    math.inf: "identical outputs (infinite SQNR)",
    -math.inf: "reference output all zero, this one not (SQNR minus infinity)",
}
SQNR_NOTE_NAN = "not a number (the outputs hold NaN)"


class OutputFidelity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cosine: float
    sqnr_db: float  # 10 log10(|reference|^2 / |error|^2); inf when identical
    max_abs_diff: float
    top1_agreement: float | None = None  # percent; classifier-like outputs only

    @model_serializer(mode="wrap")
    def _finite_sqnr(self, handler):
        data = handler(self)
        if not math.isfinite(self.sqnr_db):
            data["sqnr_db"] = None
            data["sqnr_db_note"] = SQNR_NOTES.get(self.sqnr_db, SQNR_NOTE_NAN)
        return data

    @model_validator(mode="before")
    @classmethod
    def _read_sqnr_note(cls, data):
        if isinstance(data, dict) and "sqnr_db_note" in data:
            data = dict(data)
            note = data.pop("sqnr_db_note")
            if data.get("sqnr_db") is None:
                by_note = {text: value for value, text in SQNR_NOTES.items()}
                data["sqnr_db"] = by_note.get(note, math.nan)
        return data


def is_classifier_like(values: np.ndarray) -> bool:
    return values.ndim == 2 and values.shape[1] >= 2 and np.issubdtype(values.dtype, np.floating)


def output_fidelity(got: np.ndarray, reference: np.ndarray, class_scores: bool | None = None) -> OutputFidelity:
    """``class_scores``: whether the output holds class scores (None: judge by its shape)."""
    a = np.asarray(reference, dtype=np.float64).ravel()
    b = np.asarray(got, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise StageError(f"outputs shaped {np.shape(got)} and {np.shape(reference)} cannot be compared; the "
                         "artifact's runtime changed an output's shape (check its batch axis and dynamic dims)")
    error = float(np.sum((a - b) ** 2))
    signal = float(np.sum(a ** 2))
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    # Two all-zero outputs agree perfectly; one zero and one not do not.
    cosine = float(a @ b / norms) if norms > 0 else (1.0 if error == 0 else 0.0)
    sqnr = math.inf if error == 0 else (10 * math.log10(signal / error) if signal > 0 else -math.inf)
    top1 = None
    if is_classifier_like(np.asarray(reference)) if class_scores is None else class_scores:
        top1 = float((np.argmax(got, axis=1) == np.argmax(reference, axis=1)).mean() * 100.0)
    return OutputFidelity(cosine=cosine, sqnr_db=sqnr, max_abs_diff=float(np.abs(a - b).max(initial=0.0)),
                          top1_agreement=top1)


def fidelity_by_output(got: dict[str, np.ndarray], reference: dict[str, np.ndarray],
                       class_scores: list[str] | None = None) -> dict[str, OutputFidelity]:
    """Per output name present in both; a missing output is an error naming it. ``class_scores``
    names the outputs holding class scores (None: judge each by its shape)."""
    missing = sorted(set(reference) - set(got))
    if missing:
        raise StageError(f"the artifact's outputs {sorted(got)} lack {missing}, which its FP32 model returns; "
                         "the runtime renamed or dropped them (report it with the model)")
    return {name: output_fidelity(got[name], reference[name], None if class_scores is None else name in class_scores)
            for name in reference}
