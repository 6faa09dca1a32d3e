"""The fidelity fallback: when an INT8 artifact misses the recipe's floor, find what to keep float by
measuring it, not by guessing.

1. Strategies first: the backend's whole-model alternatives, cheapest first (for a transformer on
   ONNX Runtime: MatMul only, the attention MatMuls kept float, dynamic activations; on OpenVINO:
   asymmetric activations, SmoothQuant off, the attention MatMuls kept float), each tried once and
   measured; a strategy may set QuantizeConfig fields and the target's backend options.
2. Then layers, in rounds. The divergence profile names the candidates (the layers that take the
   most SQNR off their inputs); each candidate is tried kept float on its own and the change it
   makes to the output is measured. Only a candidate that moves the output is kept; one that does
   not is never tried again. A round ends by keeping the one that helped most.
3. The layers kept are trimmed to the fewest with which the floor still holds.

Every attempt re-uses the calibration statistics of the step where the backend can (ONNX
Runtime's and TensorRT's memo, OpenVINO's per-step NNCF statistics; the artifact's meta says
which), and the whole search stops at ``quantize.fallback_time_budget_s``. The round log (what was
tried, its measured effect, what was kept) goes into the artifact's meta, and on a miss into the
one-line error: the best fidelity reached, what was tried, and what would help.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.backends.base import FallbackStrategy, ProducedArtifact
from edge_pipeline.config.schema import QuantizeConfig
from edge_pipeline.errors import FidelityFloorError, StageError
from edge_pipeline.fidelity.divergence import LayerDivergence, LayerViewError, worst_layers
from edge_pipeline.fidelity.floors import at_precision_of
from edge_pipeline.progress import progress

Profiler = Callable[[Path], list[LayerDivergence] | None]

CANDIDATES_PER_ROUND = 3
# A candidate whose trial closes less of the gap to the floor than this (cosine, or the metric's
# own unit) does not move the output: it is not kept and not tried again.
MIN_EFFECT = 1e-4


@dataclass(frozen=True)
class Setting:
    """What one attempt quantizes with: the step's config and the strategy's target option overrides."""

    config: QuantizeConfig
    options: dict = field(default_factory=dict)

    def keeping_float(self, names: list[str]) -> Setting:
        return Setting(self.config.model_copy(update={"keep_float": [*self.config.keep_float, *names]}), self.options)


Attempt = Callable[[Setting, Path], list[ProducedArtifact]]


@dataclass
class _Search:
    """What the fallback has tried so far, for the round log and the final message."""

    config: QuantizeConfig
    what: str
    started: float = field(default_factory=time.monotonic)
    strategy: str | None = None
    kept: list[str] = field(default_factory=list)
    no_effect: set[str] = field(default_factory=set)
    rounds: list[dict] = field(default_factory=list)
    tried_strategies: list[dict] = field(default_factory=list)
    best: float | None = None
    best_below: str = ""  # the outputs below their floors in the attempt that came closest

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started > self.config.fallback_time_budget_s

    def record(self, miss: FidelityFloorError) -> None:
        if self.best is None or miss.reached > self.best:
            self.best, self.best_below = miss.reached, miss.below

    def log(self) -> dict:
        return {"strategy": self.strategy, "kept_float": list(self.kept), "strategies_tried": self.tried_strategies,
                "rounds": self.rounds, "ranked_by": "measured effect of keeping each candidate float alone "
                "(candidates from the divergence profile)"}


def quantize_with_fallback(attempt: Attempt, profile: Profiler, config: QuantizeConfig, directory: Path,
                           what: str, strategies: list[FallbackStrategy] | None = None) -> list[ProducedArtifact]:
    return search_with_fallback(attempt, profile, config, directory, what, strategies)[0]


def search_with_fallback(attempt: Attempt, profile: Profiler, config: QuantizeConfig, directory: Path, what: str,
                         strategies: list[FallbackStrategy] | None = None) -> tuple[list[ProducedArtifact], Setting]:
    """The artifacts that meet the floor and the setting that made them (the strategy's, with the
    layers kept float): latency-aware placement builds on it, so fidelity's picks stay."""
    setting = Setting(config)
    try:
        return _attempt_into(attempt, setting, directory), setting
    except FidelityFloorError as miss:
        if not config.fallback:
            raise
        search = _Search(config, what)
        search.record(miss)
        base, miss, produced = _strategies(attempt, search, miss, strategies or [], directory)
        if miss is None:
            return _with_log(produced, search), base
        produced = _layers(attempt, profile, search, base, miss, directory)
        return produced, base.keeping_float(search.kept)


def _strategies(attempt: Attempt, search: _Search, miss: FidelityFloorError, strategies: list[FallbackStrategy],
                directory: Path) -> tuple[Setting, FidelityFloorError | None, list[ProducedArtifact]]:
    """Each whole-model strategy once; the first that meets the floor wins, else the one that came
    closest becomes the base of the layer search. Returns the base and its miss (None: met)."""
    base, base_miss = Setting(search.config), miss
    for strategy in strategies:
        if search.out_of_time():
            break
        name = strategy.name
        trial = Setting(search.config.model_copy(update=strategy.config), strategy.options)
        progress("quantize", f"{search.what}: below the fidelity floor ({_figure(miss)}); trying {name}")
        try:
            produced = _attempt_into(attempt, trial, directory)
        except FidelityFloorError as trial_miss:
            search.record(trial_miss)
            search.tried_strategies.append({"strategy": name, "reached": trial_miss.reached, "met": False})
            if _worst_gap(trial_miss) < _worst_gap(base_miss):
                base, base_miss, search.strategy = trial, trial_miss, name
            continue
        except StageError as failed:  # a strategy the model cannot take (a histogram over a constant)
            progress("quantize", f"{search.what}: {name} could not run: {failed}")
            search.tried_strategies.append({"strategy": name, "reached": None, "met": False, "error": str(failed)})
            continue
        search.tried_strategies.append({"strategy": name, "reached": None, "met": True})
        search.strategy = name
        return trial, None, produced
    return base, base_miss, []


def _layers(attempt: Attempt, profile: Profiler, search: _Search, base: Setting, miss: FidelityFloorError,
            directory: Path) -> list[ProducedArtifact]:
    if not Path(miss.primary).exists():  # the strategies tried since cleared the base's files: remake them
        try:
            return _with_log(_attempt_into(attempt, base, directory), search)
        except FidelityFloorError as again:
            miss = again
    layers = _profile(profile, miss)
    while True:
        room = search.config.fallback_max_layers - len(search.kept)
        candidates = worst_layers(layers or [], {*search.kept, *search.no_effect, *base.config.exclude_nodes,
                                                    *base.config.keep_float},
                                  CANDIDATES_PER_ROUND) if room > 0 else []
        if not candidates or search.out_of_time():
            raise _exhausted(search, miss, layers, room, bool(candidates)) from miss
        trials = [_trial(attempt, search, base, candidate, miss) for candidate in candidates]
        search.rounds.append({"round": len(search.rounds) + 1, "tried": [t.record for t in trials]})
        passed = [t for t in trials if t.miss is None]
        if passed:
            search.kept.append(passed[0].node)
            search.rounds[-1]["kept"] = passed[0].node
            produced = _move(passed[0], directory)
            _clean(trials)
            kept, produced = _trimmed(attempt, base, directory, search.kept, produced)
            search.kept = kept
            return _with_log(produced, search)
        moving = [t for t in trials if t.effect >= MIN_EFFECT]
        search.no_effect.update(t.node for t in trials if t.effect < MIN_EFFECT)
        if moving:
            best = max(moving, key=lambda t: t.effect)
            search.kept.append(best.node)
            search.rounds[-1]["kept"] = best.node
            miss = best.miss or miss
            layers = _profile(profile, miss) or layers  # the profile of the artifact with it float
            progress("quantize", f"{search.what}: keeping {best.node} in float moves the output by "
                                 f"{best.effect:+.4f}; {_figure(miss)} now")
        _clean(trials)


@dataclass
class _Trial:
    node: str
    record: dict
    folder: Path
    miss: FidelityFloorError | None
    effect: float
    produced: list[ProducedArtifact] = field(default_factory=list)


def _trial(attempt: Attempt, search: _Search, base: Setting, candidate: LayerDivergence,
           current: FidelityFloorError) -> _Trial:
    """``candidate`` kept float with the layers kept so far, in a folder of its own, measured."""
    folder = Path(tempfile.mkdtemp(prefix="ep-fallback-"))
    try:
        produced = attempt(base.keeping_float([*search.kept, candidate.node]), folder)
    except FidelityFloorError as miss:
        search.record(miss)
        effect = _gap(current) - _gap(miss)
        record = {"node": candidate.node, "op_type": candidate.op_type, "added_db": round(candidate.added_db, 2),
                  "reached": round(miss.reached, 5), "effect": round(effect, 5)}
        return _Trial(candidate.node, record, folder, miss, effect)
    record = {"node": candidate.node, "op_type": candidate.op_type, "added_db": round(candidate.added_db, 2),
              "reached": "met", "effect": round(_gap(current), 5)}
    return _Trial(candidate.node, record, folder, None, _gap(current), produced)


def _gap(miss: FidelityFloorError) -> float:
    return miss.shortfall


def _worst_gap(miss: FidelityFloorError) -> float:
    """The worst output's distance to its floor: what a whole-model strategy is chosen by (a
    strategy trades outputs against each other; the layer search then closes the rest)."""
    return miss.floor - miss.reached


def _figure(miss: FidelityFloorError) -> str:
    return f"{at_precision_of(miss.reached, miss.floor)} < {miss.floor}"


def _profile(profile: Profiler, miss: FidelityFloorError) -> list[LayerDivergence] | None:
    """The missing artifact's layer view, else its step's primary artifact's; None where neither
    runtime exposes intermediate tensors."""
    for path in dict.fromkeys((miss.artifact, miss.primary)):
        if not Path(path).exists():
            continue
        try:
            layers = profile(Path(path))
        except LayerViewError as skipped:
            progress("quantize", f"{skipped}")
            continue
        if layers:
            return layers
    return None


def _trimmed(attempt: Attempt, base: Setting, directory: Path, kept: list[str],
             produced: list[ProducedArtifact]) -> tuple[list[str], list[ProducedArtifact]]:
    """Drop each kept layer the floor holds without (latest picks first): every layer left float
    costs speed. The folder ends holding the final set's artifacts."""
    holds_kept = True
    for layer in reversed(list(kept)):
        if len(kept) == 1:
            break
        trial = [name for name in kept if name != layer]
        try:
            produced = _attempt_into(attempt, base.keeping_float(trial), directory)
        except FidelityFloorError:
            holds_kept = False
            continue
        kept, holds_kept = trial, True
    if not holds_kept:
        produced = _attempt_into(attempt, base.keeping_float(kept), directory)
    return kept, produced


def _exhausted(search: _Search, miss: FidelityFloorError, layers: list[LayerDivergence] | None, room: int,
               had_candidates: bool) -> FidelityFloorError:
    tried = [f"{s['strategy']} (" + (f"reached {s['reached']:.4f}" if s["reached"] is not None else "could not run")
             + ")" for s in search.tried_strategies]
    measured = [t for r in search.rounds for t in r["tried"]]
    if search.kept:
        tried.append(f"{len(search.kept)} layers kept float ({', '.join(search.kept[:6])}"
                     f"{' ...' if len(search.kept) > 6 else ''})")
    if measured:
        tried.append(f"{len(measured)} single-layer trials, {len(search.no_effect)} without effect")
    if layers is None:
        tried.append("no per-layer view (the runtime exposes none)")
    why = ("the time budget quantize.fallback_time_budget_s ran out" if search.out_of_time() and had_candidates
           else f"quantize.fallback_max_layers ({search.config.fallback_max_layers}) is reached" if room <= 0
           else "no remaining layer moves the output")
    worst = worst_layers(layers or [], set(), 3)
    named = ", ".join(f"{layer.node} ({layer.op_type})" for layer in worst) or "unknown"
    best = search.best if search.best is not None else miss.reached
    below = search.best_below if search.best is not None else miss.below
    return FidelityFloorError(
        f"{search.what}: no fallback meets the fidelity floor {miss.floor}: best reached "
        f"{at_precision_of(best, miss.floor)}{f' ({below})' if below else ''}; tried "
        f"{'; '.join(tried) or 'nothing'}; stopped because {why}. The layers adding the most error: {named}. "
        "What would help: calibrate on more (and real) samples, try quantize.method entropy or percentile, keep "
        "whole op types float (quantize.exclude_op_types), or lower the floor",
        artifact=miss.artifact, reached=best, floor=miss.floor, below=below,
    )


def _attempt_into(attempt: Attempt, setting: Setting, directory: Path) -> list[ProducedArtifact]:
    _clear(directory)
    return attempt(setting, directory)


def _with_log(produced: list[ProducedArtifact], search: _Search) -> list[ProducedArtifact]:
    return [p.with_meta(fallback=search.log()) for p in produced]


def _move(trial: _Trial, directory: Path) -> list[ProducedArtifact]:
    """A passing trial's files become the step's (same names: a trial writes what an attempt writes)."""
    _clear(directory)
    for child in trial.folder.iterdir():
        shutil.move(str(child), str(directory / child.name))
    return [ProducedArtifact(directory / Path(p.path).relative_to(trial.folder), p.kind, p.precision, p.variant,
                             p.meta) for p in trial.produced]


def _clean(trials: list[_Trial]) -> None:
    for trial in trials:
        shutil.rmtree(trial.folder, ignore_errors=True)


def _clear(directory: Path) -> None:
    """Empty the step's own building folder (only files this attempt wrote are there)."""
    for child in Path(directory).iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
