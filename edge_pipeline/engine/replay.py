"""Replaying a stage from the cache without running its code.

A training stage builds its cache keys from things it computes with torch (the teacher's outputs,
the student it derives), so even a fully cached distill or prune imported torch and built models on
every re-run (2-3 s of a warm default run). A replay record, kept in the stage cache beside the step
entries, maps what the stage's result is a function of, computed without torch (the whole recipe,
the content of the data and models it reads, its input artifacts, tool versions and its code), to
the steps the stage took. A re-run with the same material checks each of those step entries (every
file against its sha256) and takes their artifacts; any miss or failed check runs the stage as usual.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.artifacts.cache import StageCache, StageKey
from edge_pipeline.artifacts.record import Artifact

REPLAY_SUFFIX = ".replay"


@dataclass
class StepTaken:
    step: str
    material: dict  # the step's full cache key material, as the engine built it
    directory: Path  # its cache entry


@dataclass
class Recording:
    """The steps one stage takes while it runs."""

    steps: list[StepTaken] = field(default_factory=list)


def replay_allowed() -> bool:
    """Single-process runs only: under torchrun every rank must join a stage's collectives."""
    return int(os.environ.get("WORLD_SIZE", "1")) <= 1


def replay_key(stage: str, material: dict) -> StageKey:
    return StageKey(stage + REPLAY_SUFFIX, material)


def remember(cache: StageCache, key: StageKey, recording: Recording, artifacts: list[Artifact],
             notes: list[str]) -> None:
    """Store the record, when every artifact the stage returned lies in one of its step entries."""
    placed = [_placement(artifact, recording.steps) for artifact in artifacts]
    if not cache.enabled or any(p is None for p in placed):
        return
    payload = {"steps": [{"step": s.step, "material": s.material} for s in recording.steps],
               "artifacts": placed, "notes": notes}
    with cache.locked(key), cache.build(key, replace=True) as entry:
        entry.payload = payload


def replayed(cache: StageCache, stage: str,
             key: StageKey) -> tuple[list[tuple[str, StageKey]], list[Artifact], list[str]] | None:
    """(steps as (name, key), artifacts, notes) when the record and every step entry it names
    verify; else None (the stage runs)."""
    record = cache.lookup(key)
    if record is None:
        return None
    entries = []
    for step in record.payload["steps"]:
        step_key = StageKey(stage, step["material"])
        entry, _ = cache.inspect(step_key)
        if entry is None:
            return None
        entries.append((step["step"], step_key, entry.directory))
    artifacts = [Artifact.model_validate({**placed["record"], "path": str(entries[placed["step"]][2] / placed["path"])})
                 for placed in record.payload["artifacts"]]
    return [(name, step_key) for name, step_key, _ in entries], artifacts, list(record.payload["notes"])


def _placement(artifact: Artifact, steps: list[StepTaken]) -> dict | None:
    path = Path(artifact.path).resolve()
    for index, step in enumerate(steps):
        directory = step.directory.resolve()
        if path.is_relative_to(directory):
            record = artifact.model_dump(mode="json")
            return {"step": index, "path": path.relative_to(directory).as_posix(), "record": record}
    return None
