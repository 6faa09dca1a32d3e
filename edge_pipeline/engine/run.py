"""Run a recipe: check it, run its stages in order, each on a fresh frozen view of the run.

The engine alone computes cache keys (stage, step, the inputs' content, config, tool versions and
the digest of the code the stage runs), talks to the cache and records lineage. Under torchrun,
every rank joins the collective stages (DDP training); rank 0 alone runs the rest.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.artifacts.cache import StageCache, StageKey, cache_folder
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.backends.registry import (
    backend_object,
    descriptor,
    import_reference,
    installed,
    require_importable,
    typed_options,
)
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.config.cpu_match import announce_picks
from edge_pipeline.config.recipes import load_target, with_target_options
from edge_pipeline.config.references import referenced_sources
from edge_pipeline.config.schema import Recipe, TargetProfile, effective_stage_config
from edge_pipeline.engine.code import code_digest, package_modules
from edge_pipeline.engine.order import plan_stages
from edge_pipeline.engine.preflight import preflight
from edge_pipeline.engine.replay import Recording, StepTaken, remember, replay_allowed, replay_key, replayed
from edge_pipeline.engine.versions import tool_versions
from edge_pipeline.errors import EdgePipelineError
from edge_pipeline.progress import is_verbose, progress
from edge_pipeline.stages.base import Producer, StageDescriptor, StageOutput, StageRun, StepRecord, TargetFailure
from edge_pipeline.stages.data import RunData


@dataclass
class RunState:
    """What the stages have made so far; only the engine appends to it."""

    artifacts: list[Artifact] = field(default_factory=list)
    rows: list[BenchmarkRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lineage: list[StepRecord] = field(default_factory=list)
    bundle: Path | None = None
    failures: list[TargetFailure] = field(default_factory=list)


class Engine:
    def __init__(self, recipe: Recipe, cache_dir: Path | None = None, use_cache: bool = True,
                 fail_fast: bool = False):
        self.recipe = recipe
        self.fail_fast = fail_fast  # off: a failed target costs only itself (TargetFailure)
        self.stages = plan_stages(recipe.stages)  # a bad stage list fails before anything loads
        self.targets = resolve_targets(recipe)
        root = cache_folder(cache_dir)  # a file or unwritable folder fails here, before any work
        self.cache = StageCache(root / "stages", enabled=use_cache)
        self.workdir = root
        self.tool_versions = tool_versions()
        self.data = RunData(recipe)
        self.state = RunState()
        self._recording: Recording | None = None

    def run(self, out: Path | None) -> Path | None:
        preflight(self.recipe, self.targets, [stage.name for stage in self.stages])  # batch memory, temp folder
        # Bad data and target settings fail here, before any model is trained or exported.
        self.data.calibration()
        self.data.eval()
        check_targets(self.recipe, self.targets)
        self.state.notes += announce_picks(self.targets)  # device.features: auto, before the work it shapes
        try:
            for descriptor_ in self.stages:
                if runs_on_this_process(descriptor_):
                    self._run_stage(descriptor_, out)
        finally:
            self.cache.close()  # the bundle holds copies: `cache clean` may take the entries now
        return self.state.bundle

    def _run_stage(self, stage: StageDescriptor, out: Path | None) -> None:
        self._check_cached_files(stage.name)
        progress(stage.name, "start")
        steps_before = len(self.state.lineage)
        view = self._view(stage.name, out)
        replay = self._replay_key(stage, view)
        output = self._replayed(stage, replay) if replay is not None else None
        if output is None:
            output = self._recorded_run(stage, view, replay)
        reused = sum(record.cached for record in self.state.lineage[steps_before:])
        if reused:  # one line per stage: a warm re-run would otherwise print a line per step
            progress(stage.name, f"{reused} of {len(self.state.lineage) - steps_before} steps unchanged, "
                                 "re-using cached results")
        self.state.artifacts += output.artifacts
        self.state.rows += output.rows
        self.state.notes += output.notes
        self.state.notes += self.data.take_notes()  # data warnings (constant inputs, tiny sets) seen so far
        self.state.bundle = output.bundle or self.state.bundle
        self._record_failures(output.failures)

    def _check_cached_files(self, stage: str) -> None:
        """Every artifact so far lives in a cache entry this run holds; one that vanished anyway (a
        hand-made deletion, a filesystem without locks) is named as the cache's, not as a fault of
        the model that the next stage's loader would report ("File doesn't exist")."""
        cache = self.cache.root.resolve()
        for artifact in self.state.artifacts:
            path = Path(artifact.path)
            if not path.exists() and path.resolve().is_relative_to(cache):
                entry = path.resolve().relative_to(cache).parts[:2]
                raise EdgePipelineError(
                    f"{path.name} vanished from the stage cache {self.workdir} (entry {'/'.join(entry)}) before "
                    f"{stage} could read it: something removed it while this run used it (by hand, or `cache "
                    "clean` on a filesystem without locks); the model is fine: run again to rebuild it")

    def _record_failures(self, failures: list[TargetFailure]) -> None:
        """Drop everything of a failed target, so no later stage (nor the bundle) shows it as finished;
        when every target has failed there is nothing to publish, and the first failure stops the run."""
        if not failures:
            return
        self.state.failures += failures
        failed = {failure.target for failure in self.state.failures}
        self.state.artifacts = [a for a in self.state.artifacts if a.target not in failed]
        self.state.rows = [r for r in self.state.rows if r.target not in failed]
        if failed >= set(self.targets):
            raise self.state.failures[0].exception

    @property
    def failures(self) -> list[TargetFailure]:
        """The targets that failed (in stage order); the bundle holds the others."""
        return list(self.state.failures)

    def _replay_key(self, stage: StageDescriptor, view: StageRun) -> StageKey | None:
        if stage.replay is None or not self.cache.enabled or not replay_allowed():
            return None
        material = import_reference(stage.replay)(view)
        if material is None:
            return None
        return replay_key(stage.name, {"stage": material, **self._recipe_identity,
                                       "inputs": [a.sha256 for a in view.artifacts], "tools": self.tool_versions,
                                       "code": stage_code_digest(stage.name)})

    @functools.cached_property
    def _recipe_identity(self) -> dict:
        """The whole recipe and the source of every function it names: one read per run."""
        recipe = self.recipe.model_dump(mode="json")
        return {"recipe": recipe, "references": referenced_sources(recipe)}

    def _replayed(self, stage: StageDescriptor, key: StageKey) -> StageOutput | None:
        started = time.perf_counter()
        found = replayed(self.cache, stage.name, key)
        if found is None:
            return None
        steps, artifacts, notes = found
        seconds = round(time.perf_counter() - started, 3)
        self.state.lineage += [StepRecord(stage.name, name, step_key.digest[:16], True, seconds)
                               for name, step_key in steps]
        return StageOutput(artifacts=artifacts, notes=notes)

    def _recorded_run(self, stage: StageDescriptor, view: StageRun, replay: StageKey | None) -> StageOutput:
        self._recording = Recording()
        try:
            output: StageOutput = import_reference(stage.run)(view)
        finally:
            recording, self._recording = self._recording, None
        if replay is not None and not output.failures:
            remember(self.cache, replay, recording, output.artifacts, output.notes)
        return output

    def _view(self, stage: str, out: Path | None) -> StageRun:
        return StageRun(
            stage=stage, recipe=self.recipe, targets=self.targets, artifacts=tuple(self.state.artifacts),
            rows=tuple(self.state.rows), notes=tuple(self.state.notes), data=self.data, workdir=self.workdir,
            out=out, tool_versions=self.tool_versions, lineage=tuple(self.state.lineage), step_runner=self._step,
            failed=tuple(self.state.failures), fail_fast=self.fail_fast,
        )

    def _step(self, stage: str, step: str, material: dict, produce: Producer,
              backend: str | None) -> tuple[list[Artifact], dict]:
        key = StageKey(stage, {"step": step, **material, "tools": self.tool_versions,
                               "code": stage_code_digest(stage, backend)})
        started = time.perf_counter()
        obtained = self.cache.obtain(key, lambda directory: _produce(stage, step, produce, directory, backend),
                                     on_evict=lambda problem: self._evicted(stage, step, problem))
        entry = obtained.entry
        if self._recording is not None:
            self._recording.steps.append(StepTaken(step, key.material, entry.directory))
        artifacts = [_absolute(a, entry.directory) for a in entry.payload["artifacts"]]
        self.state.lineage.append(
            StepRecord(stage, step, key.digest[:16], obtained.cached, round(time.perf_counter() - started, 3))
        )
        if obtained.cached and is_verbose():
            progress(stage, f"{step}: unchanged, re-using cached result")
        return artifacts, entry.payload["extras"]

    def _evicted(self, stage: str, step: str, problem: str) -> None:
        """A cached entry failed its check and is rebuilt: said now on stderr, and in the bundle's notes."""
        progress(stage, f"{step}: cache entry was corrupt ({problem}); evicted it, rebuilding")
        self.state.notes.append(f"cache entry for {stage}/{step} was corrupt ({problem}); rebuilt")


def _produce(stage: str, step: str, produce: Producer, directory: Path, backend: str | None) -> dict:
    """Run a step into a cache entry's folder; the payload records artifact paths relative to it.
    A step made with a backend needs it importable (stages look backends up without importing them,
    so that cached steps never pay for the import)."""
    if backend is not None:
        require_importable(backend)
    progress(stage, f"{step}: running")
    artifacts, extras = produce(directory)
    return {"artifacts": [_relative(a, directory) for a in artifacts], "extras": extras}


def stage_code_digest(stage: str, backend: str | None = None) -> str:
    from edge_pipeline.stages.registry import stage as stage_descriptor

    roots = {stage_descriptor(stage).run.partition(":")[0]}
    if backend is not None:
        roots |= package_modules(descriptor(backend).backend.partition(":")[0].rpartition(".")[0])
    return code_digest(frozenset(roots))


def runs_on_this_process(stage: StageDescriptor) -> bool:
    """Under torchrun (RANK set) ranks other than 0 run only the collective stages."""
    return stage.collective or int(os.environ.get("RANK", "0")) == 0


def resolve_targets(recipe: Recipe) -> dict[str, TargetProfile]:
    """Target profiles by their own name (a recipe may name a profile by its YAML path), with the
    recipe's ``target_options`` merged into their options."""
    targets = [resolve_target(name, recipe.target_options) for name in recipe.targets]
    return {target.metadata.name: target for target in targets}


def resolve_target(name: str, target_options: dict[str, dict] | None = None) -> TargetProfile:
    """A target profile whose backend exists and whose options (``target_options``' for it merged
    in) its backend's options model accepts."""
    target = load_target(name)
    typed_options(target)
    if target_options and target.metadata.name in target_options:
        target = with_target_options(target, target_options)
        typed_options(target, f"recipe target_options.{target.metadata.name}")
    return target


def check_targets(recipe: Recipe, targets: dict[str, TargetProfile]) -> None:
    """Backend-specific settings fail here; an uninstalled backend still fails where it is used."""
    for target in targets.values():
        if installed(target.backend):
            config = effective_stage_config(recipe.quantize, target.quantize)
            backend_object(target.backend).check_target(target.model_copy(update={"quantize": config}), recipe)


def _relative(artifact: Artifact, directory: Path) -> dict:
    data = artifact.model_dump(mode="json")
    data["path"] = str(Path(artifact.path).resolve().relative_to(directory.resolve()))
    return data


def _absolute(data: dict, directory: Path) -> Artifact:
    return Artifact.model_validate({**data, "path": str(directory / data["path"])})
