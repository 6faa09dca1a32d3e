"""The sensitivity fallback: when an INT8 artifact misses the recipe's fidelity floor, keep the
layers that add the most error in float and quantize again, fewest first, until the floor holds or
``fallback_max_layers`` is reached; then fail naming the worst layers and the best fidelity reached.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from edge_pipeline.backends.base import ProducedArtifact
from edge_pipeline.config.schema import QuantizeConfig
from edge_pipeline.errors import FidelityFloorError
from edge_pipeline.fidelity.divergence import LayerDivergence, LayerViewError, worst_layers
from edge_pipeline.progress import progress

Attempt = Callable[[QuantizeConfig, Path], list[ProducedArtifact]]
Profiler = Callable[[Path], list[LayerDivergence] | None]


def quantize_with_fallback(attempt: Attempt, profile: Profiler, config: QuantizeConfig, directory: Path,
                           what: str) -> list[ProducedArtifact]:
    kept: list[str] = []
    current, best = config, None
    while True:
        _clear(directory)
        try:
            produced = attempt(current, directory)
        except FidelityFloorError as miss:
            best = miss.reached if best is None else max(best, miss.reached)
            if not config.fallback:
                raise
            layers = _profile(profile, miss)
            room = config.fallback_max_layers - len(kept)
            picks = worst_layers(layers, {*kept, *config.exclude_nodes}, min(max(1, len(kept) // 2), room)) \
                if layers is not None and room > 0 else []
            if not picks:
                raise _exhausted(miss, kept, best, layers, what) from miss
            kept += [layer.node for layer in picks]
            progress("quantize", f"{what}: below the fidelity floor ({miss.reached:.4f} < {miss.floor:g}); keeping "
                                 f"{', '.join(layer.node for layer in picks)} in float and quantizing again")
            current = config.model_copy(update={"keep_float": [*config.keep_float, *kept]})
            continue
        if not kept:
            return produced
        kept, produced = _trimmed(attempt, config, directory, kept, produced)
        note = {"kept_float": kept, "ranked_by": "SQNR dB each layer takes off its inputs' (divergence profile)"}
        return [ProducedArtifact(p.path, p.kind, p.precision, p.variant, {**p.meta, "fallback": note})
                for p in produced]


def _profile(profile: Profiler, miss: FidelityFloorError) -> list[LayerDivergence] | None:
    """The missing artifact's layer view, else its step's primary artifact's; None where neither
    runtime exposes intermediate tensors."""
    for path in dict.fromkeys((miss.artifact, miss.primary)):
        try:
            layers = profile(Path(path))
        except LayerViewError as skipped:
            progress("quantize", f"{skipped}")
            continue
        if layers:
            return layers
    return None


def _trimmed(attempt: Attempt, config: QuantizeConfig, directory: Path, kept: list[str],
             produced: list[ProducedArtifact]) -> tuple[list[str], list[ProducedArtifact]]:
    """Drop each kept layer the floor holds without (latest picks first): the greedy picks can
    overshoot, and every layer left float costs speed. ``produced`` is what the folder holds for
    ``kept``; the folder ends holding the final set's artifacts (re-made only when the last trial
    missed and left its own there)."""
    holds_kept = True
    for layer in reversed(list(kept)):
        if len(kept) == 1:
            break
        trial = [name for name in kept if name != layer]
        _clear(directory)
        try:
            produced = attempt(config.model_copy(update={"keep_float": [*config.keep_float, *trial]}), directory)
        except FidelityFloorError:
            holds_kept = False
            continue
        kept, holds_kept = trial, True
    if not holds_kept:
        _clear(directory)
        produced = attempt(config.model_copy(update={"keep_float": [*config.keep_float, *kept]}), directory)
    return kept, produced


def _exhausted(miss: FidelityFloorError, kept: list[str], best: float, layers: list[LayerDivergence] | None,
               what: str) -> FidelityFloorError:
    worst = worst_layers(layers or [], set(), 5)
    named = ", ".join(f"{layer.node} ({layer.op_type}, -{layer.added_db:.1f} dB)" for layer in worst) or "unknown"
    tried = f"after keeping {len(kept)} layers in float ({', '.join(kept[:8])}{' ...' if len(kept) > 8 else ''})" \
        if kept else "and no layer profile could be read"
    return FidelityFloorError(
        f"{what}: no fallback meets the fidelity floor {miss.floor:g}: best reached {best:.4f} {tried}; the layers "
        f"adding the most error: {named}; raise quantize.fallback_max_layers, exclude op types "
        "(quantize.exclude_op_types), or lower the floor",
        artifact=miss.artifact, reached=best, floor=miss.floor,
    )


def _clear(directory: Path) -> None:
    """Empty the step's own building folder (only files this attempt wrote are there)."""
    for child in Path(directory).iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
