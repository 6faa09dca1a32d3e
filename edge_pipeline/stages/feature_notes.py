"""Targets timed on a host without the CPU features their profile lists: the runtime then runs the
kernels this CPU has (e.g. AVX2's u8 x s8 path instead of VNNI's), so the rows time this CPU, not
the one the profile is for. Said in the report's notes and on stderr, naming a profile of the same
backend that this CPU does match, where one exists."""

from __future__ import annotations

from collections.abc import Mapping

from edge_pipeline.benchmarking.host import missing_cpu_features
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.config.schema import TargetProfile
from edge_pipeline.errors import EdgePipelineError
from edge_pipeline.progress import progress


def feature_notes(rows: list[BenchmarkRow], targets: Mapping[str, TargetProfile]) -> list[str]:
    notes = []
    for name in sorted({r.target for r in rows if r.measured_on == "device"}):
        target = targets[name]
        missing = missing_cpu_features(target.device.features)
        if not missing:
            continue
        notes.append(f"{name} lists CPU features this host lacks ({', '.join(missing)}): its rows time the kernels "
                     f"this CPU has, not those of the CPU the profile is for. {_advice(name, target)}")
        progress("benchmark", f"warning: {notes[-1]}")
    return notes


def _advice(name: str, target: TargetProfile) -> str:
    matching = profiles_this_cpu_matches(target.backend, target.device.arch)
    if matching:
        return f"For a deployment CPU like this one: {', '.join(matching)} (`edge-pipeline targets`)."
    return (f"No {target.backend} profile matches this CPU: for a deployment CPU like this one, write one with "
            f"`extends: {name}` and the device.features this CPU has.")


def profiles_this_cpu_matches(backend: str, arch: str) -> list[str]:
    """Profiles of ``backend`` for ``arch`` that list CPU features, all of which this host has."""
    from edge_pipeline.config.recipes import available_targets, load_target

    found = []
    for name in available_targets():
        try:
            profile = load_target(name)
        except EdgePipelineError:
            continue  # a broken profile in a user's folder is its own run's error, not this note's
        if (profile.backend == backend and profile.device.arch == arch and profile.device.features
                and missing_cpu_features(profile.device.features) == []):
            found.append(name)
    return found
