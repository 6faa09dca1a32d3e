"""The stage contract: a descriptor (what a stage is, as data) and the view a stage runs on.

A stage is a function ``run(view: StageRun) -> StageOutput``. It reads the run's state through
the frozen view, asks the engine to run each unit of work through ``view.step`` (the engine owns
cache keys, the cache and lineage; a stage never sees them) and returns what it made. It never
mutates its inputs: artifacts and rows are frozen records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.config.schema import Recipe, TargetProfile
from edge_pipeline.errors import EdgePipelineError
from edge_pipeline.progress import progress

if TYPE_CHECKING:
    from edge_pipeline.stages.data import RunData

# What stages hand each other, by role: the recipe's own model, models made by shrinking stages,
# exported ONNX files, per-target artifacts, benchmark rows, the bundle.
RECIPE_MODEL = "recipe-model"
TORCH_PROGRAM = "torch-program"
ONNX = "onnx"
TARGET_ARTIFACT = "target-artifact"
RESULTS = "results"
BUNDLE = "bundle"


@dataclass(frozen=True)
class StageDescriptor:
    name: str
    run: str  # "module:function" taking a StageRun and returning a StageOutput
    summary: str  # one line for `--help` and errors
    consumes: tuple[str, ...]  # roles that must exist before it runs (given by the recipe or made earlier)
    produces: tuple[str, ...]
    followers: tuple[str, ...]  # the stages that may come after it in a recipe
    config_field: str | None = None  # the Recipe section holding its settings
    collective: bool = False  # every torchrun rank joins it (DDP training); other stages run on rank 0
    # "module:function" giving, without torch, what the stage's result depends on beyond the recipe,
    # its input artifacts, tools and code (the engine adds those), or None where it cannot tell: a
    # re-run with the same material replays the stage's cached steps without running it.
    replay: str | None = None


Producer = Callable[[Path], tuple[list[Artifact], dict]]
T = TypeVar("T")


@dataclass(frozen=True)
class TargetFailure:
    """One target's work failed; the run goes on with the others (unless fail-fast)."""

    target: str
    stage: str
    error: str  # the error's one line
    error_class: str
    exception: EdgePipelineError = field(repr=False, compare=False)

    def record(self) -> dict:
        """What report.json and manifest.json keep of it."""
        return {"target": self.target, "stage": self.stage, "error": self.error, "error_class": self.error_class}


class StepRunner(Protocol):
    """The engine's side of ``StageRun.step``: key, cache, lineage."""

    def __call__(self, stage: str, step: str, material: dict, produce: Producer,
                 backend: str | None) -> tuple[list[Artifact], dict]: ...


@dataclass(frozen=True)
class StepRecord:
    stage: str
    step: str
    key: str
    cached: bool
    seconds: float


@dataclass(frozen=True)
class StageRun:
    """Everything a stage may read, and ``step`` to run work through the engine."""

    stage: str
    recipe: Recipe
    targets: Mapping[str, TargetProfile]
    artifacts: tuple[Artifact, ...]
    rows: tuple[BenchmarkRow, ...]
    notes: tuple[str, ...]
    data: RunData
    workdir: Path  # per-run scratch space the engine owns (training checkpoints)
    out: Path | None  # where the bundle goes
    tool_versions: Mapping[str, str]
    lineage: tuple[StepRecord, ...]
    step_runner: StepRunner = field(repr=False)
    failed: tuple[TargetFailure, ...] = ()  # targets whose work failed in an earlier stage
    fail_fast: bool = False  # the first failing target stops the run

    def for_target(self, target: str, work: Callable[[], T]) -> T | TargetFailure:
        """``work()`` for one target. An EdgePipelineError in it fails that target alone: said on
        stderr and returned, so the stage goes on with the other targets; with ``fail_fast`` (or an
        error that ``ends_run``, e.g. a user's function still running past its limit) it propagates
        and stops the run."""
        try:
            return work()
        except EdgePipelineError as exc:
            if self.fail_fast or getattr(exc, "ends_run", False):
                raise
            error = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            if len(self.targets) - len(self.failed) > 1:  # a last target's error is the run's: the CLI prints it
                progress(self.stage, f"target {target} failed, going on with the others: {error}")
            return TargetFailure(target, self.stage, error, exc.__class__.__name__, exc)

    def find(self, **criteria: Any) -> list[Artifact]:
        return [a for a in self.artifacts if all(getattr(a, k) == v for k, v in criteria.items())]

    def step(self, name: str, produce: Producer, *, inputs: tuple[Artifact, ...] | list[Artifact] = (),
             config: BaseModel | dict | None = None, data: tuple = (), extra: dict | None = None,
             backend: str | None = None) -> tuple[list[Artifact], dict]:
        """Run ``produce(entry_dir)`` unless the engine holds a result for the same material.

        The material is the content of ``inputs`` (artifact hashes) and ``data`` (dataset hashes),
        ``config``, and ``extra`` (anything else the result depends on: a host identity, a round).
        The engine adds the tool versions and a digest of the code the stage runs (and of
        ``backend``'s subpackage). ``produce`` writes inside ``entry_dir`` and returns the
        artifacts there plus JSON-able extras.
        """
        material = {
            "inputs": [a.sha256 for a in inputs],
            "config": config.model_dump(mode="json") if isinstance(config, BaseModel) else config,
            "data": [d.sha256 if d is not None else None for d in data],
            "extra": extra or {},
        }
        return self.step_runner(self.stage, name, material, produce, backend)


@dataclass(frozen=True)
class StageOutput:
    artifacts: list[Artifact] = field(default_factory=list)
    rows: list[BenchmarkRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bundle: Path | None = None
    failures: list[TargetFailure] = field(default_factory=list)
