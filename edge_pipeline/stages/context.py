"""State shared by the stages of one run, and the cached-step helper every stage uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.artifacts.cache import StageCache, StageKey
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.config.schema import Recipe, TargetProfile
from edge_pipeline.progress import progress


@dataclass
class StepRecord:
    stage: str
    step: str
    key: str
    cached: bool
    seconds: float


@dataclass
class RunContext:
    recipe: Recipe
    targets: dict[str, TargetProfile]
    cache: StageCache
    tool_versions: dict[str, str]
    workdir: Path
    artifacts: list[Artifact] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    datasets: dict = field(default_factory=dict)  # role -> ArrayDataset, loaded once per run
    notes: list[str] = field(default_factory=list)

    def find(self, **criteria) -> list[Artifact]:
        return [a for a in self.artifacts if all(getattr(a, k) == v for k, v in criteria.items())]

    def get(self, artifact_id: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.id == artifact_id:
                return artifact
        raise KeyError(artifact_id)


Producer = Callable[[Path], tuple[list[Artifact], dict]]


def cached_step(ctx: RunContext, stage: str, step: str, material: dict, produce: Producer) -> tuple[list[Artifact], dict]:
    """Run ``produce(entry_dir)`` unless an entry for the same inputs, config and tools exists.

    ``produce`` returns artifacts whose paths lie inside ``entry_dir`` plus any JSON-able extras.
    """
    key = StageKey(stage, {"step": step, "inputs": material, "tools": ctx.tool_versions})
    started = time.perf_counter()
    entry = ctx.cache.lookup(key)
    cached = entry is not None
    if entry is None:
        progress(stage, f"{step}: running")
        with ctx.cache.build(key) as building:
            artifacts, extras = produce(building.directory)
            building.payload = {
                "artifacts": [_relative(a, building.directory) for a in artifacts],
                "extras": extras,
            }
        entry = building  # published: its directory now points at the final entry
    else:
        progress(stage, f"{step}: unchanged, re-using cached result")
    artifacts = [_absolute(a, entry.directory) for a in entry.payload["artifacts"]]
    ctx.steps.append(StepRecord(stage, step, key.digest[:16], cached, round(time.perf_counter() - started, 3)))
    return artifacts, entry.payload["extras"]


def _relative(artifact: Artifact, directory: Path) -> dict:
    data = artifact.model_dump(mode="json")
    data["path"] = str(Path(artifact.path).resolve().relative_to(directory.resolve()))
    return data


def _absolute(data: dict, directory: Path) -> Artifact:
    return Artifact.model_validate({**data, "path": str(directory / data["path"])})
