"""The run's notes, folded: a note repeated for every artifact (the same TensorRT sentence six times)
becomes one line listing the artifacts, and exact repeats are written once."""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = "\x00"


@dataclass(frozen=True)
class NoteGroup:
    text: str                   # the note, with the artifacts listed where the id stood
    count: int                  # how many notes it stands for
    artifacts: tuple[str, ...]  # the ids folded into it (empty for a plain note)

    def line(self) -> str:
        # A folded line lists its artifacts already; a count is news only for plain repeats.
        return self.text + (f" (×{self.count})" if self.count > 1 and not self.artifacts else "")


def group_notes(notes: list[str], artifact_ids: set[str], targets: list[str]) -> list[NoteGroup]:
    """Notes that differ only in one artifact id, grouped in first-seen order.

    An id is one the report knows (a row's or artifact's) or any ``model/<target>/precision`` of the
    report's targets, so a note about an artifact that was never timed still groups.
    """
    pattern = _id_pattern(artifact_ids, targets)
    groups: dict[str, list[str | None]] = {}
    for note in notes:
        ids = pattern.findall(note) if pattern else []
        if len(ids) == 1:
            template, found = pattern.sub(PLACEHOLDER, note, count=1), ids[0]
        else:  # zero or several ids: only exact repeats group
            template, found = note, None
        groups.setdefault(template, []).append(found)
    return [_folded(template, found) for template, found in groups.items()]


def _folded(template: str, found: list[str | None]) -> NoteGroup:
    if PLACEHOLDER not in template:
        return NoteGroup(template, len(found), ())
    ids = list(dict.fromkeys(i for i in found if i))
    listed = ids[0] if len(ids) == 1 else f"{len(ids)} artifacts ({', '.join(ids)})"
    return NoteGroup(template.replace(PLACEHOLDER, listed), len(found), tuple(ids))


def _id_pattern(artifact_ids: set[str], targets: list[str]) -> re.Pattern | None:
    alternatives = [re.escape(i) for i in sorted(artifact_ids, key=len, reverse=True)]
    if targets:
        names = "|".join(re.escape(t) for t in sorted(targets, key=len, reverse=True))
        alternatives.append(rf"[\w.-]+/(?:{names})/[\w-]+(?:\.[\w-]+)*")  # no sentence-ending dot
    if not alternatives:
        return None
    # Not inside a longer path: 'artifacts/teacher/x/int8/model.onnx' is a file, not an id.
    return re.compile(rf"(?<![\w./-])(?:{'|'.join(alternatives)})(?![\w/-])")


def note_lines(report: dict, artifact_ids: set[str]) -> list[str]:
    """The report's notes folded into text lines."""
    notes = [str(n) for n in report.get("notes", [])]
    return [g.line() for g in group_notes(notes, artifact_ids, list(report.get("targets", [])))]
