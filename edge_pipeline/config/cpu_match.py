"""``device.features: auto``: a target profile takes the settings of the built-in profile of its family
that this CPU matches (the x86 ONNX Runtime family: -avx2, the VNNI base, -amx).

Opt-in, not the built-ins' default: a named profile describes a deployment CPU and builds the same
artifact on any build host, so a bundle made on a CI runner still suits the machine it was named
for (an AMX host's 8-bit weights saturate on an AVX2 deployment). ``auto`` is for when the machine
that builds and times is the deployment CPU, which only the user knows.

A profile's family is every built-in profile whose ``extends:`` chain ends at the same root as the
auto profile's, listing explicit features. Of those whose features this CPU all has, the one whose
features reach furthest up KERNEL_FLAGS (AMX over VNNI over AVX2) wins; its whole mapping is the base,
and the auto profile's own keys go over it. With no match, or no readable CPU flags, or another
instruction set, the profile keeps its parent's settings and says so (the benchmark's "lists CPU
features this host lacks" warning then still fires where it applies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.config.schema import TargetProfile
from edge_pipeline.cpuinfo import KERNEL_FLAGS, cpu_flag_set, host_arch
from edge_pipeline.errors import ConfigError

AUTO = "auto"


@dataclass(frozen=True)
class Member:
    name: str
    path: Path
    features: tuple[str, ...]


def host_flags() -> set[str]:
    """This CPU's flags; a seam for tests, which stand in other CPUs."""
    return cpu_flag_set()


def rank(features: tuple[str, ...]) -> tuple[int, int]:
    """Higher for a profile that needs more of the CPU: its furthest KERNEL_FLAGS entry, then its count."""
    order = [KERNEL_FLAGS.index(f) if f in KERNEL_FLAGS else -1 for f in features]
    return max(order, default=-1), len(features)


def best_match(members: list[Member], flags: set[str]) -> Member | None:
    fits = [m for m in members if m.features and set(m.features) <= flags]
    return max(fits, key=lambda m: (rank(m.features), m.name), default=None)


def describe_cpu(members: list[Member], flags: set[str]) -> str:
    """'avx2, no avx512_vnni, no amx_int8': the family's features this CPU has, then those it lacks."""
    named = sorted({f for m in members for f in m.features}, key=lambda f: rank((f,)))
    return ", ".join([f for f in named if f in flags] + [f"no {f}" for f in named if f not in flags])


def wants_auto(mapping: dict) -> bool:
    device = mapping.get("device")
    return isinstance(device, dict) and device.get("features") == AUTO


def resolve_auto(path: Path, mapping: dict) -> dict:
    """``mapping`` (the auto profile's, extends merged in) with the settings of its family's best
    match for this CPU, and ``device.picked`` saying which and why."""
    from edge_pipeline.config.recipes import lineage, read_yaml_mapping, target_mapping

    own = read_yaml_mapping(path)
    chain = lineage(path)
    if len(chain) < 2:
        raise ConfigError(f"{path}: device.features: auto picks among the built-in profiles of the one it extends; "
                          "add extends: x86-cpu-onnxruntime (or list the CPU features)")
    name = mapping["metadata"].get("name", path.stem)
    members = family(chain[-1], exclude=path)
    arch = mapping["device"].get("arch", "x86_64")
    flags = host_flags() if arch == host_arch() else set()
    match = best_match(members, flags)
    if match is None:
        parent = target_mapping(chain[1])
        features = parent.get("device", {}).get("features")
        why = ("this host's CPU flags cannot be read" if arch == host_arch() and not flags
               else f"this host is {host_arch()}, not {arch}" if arch != host_arch()
               else f"no profile of its family fits this CPU: {describe_cpu(members, flags)}")
        resolved = {**mapping, "device": {**mapping["device"], "features": features if isinstance(features, list)
                                          else []}}
        return _picked(resolved, f"{name}: settings of {chain[1].stem} ({why})")
    base = target_mapping(match.path)
    mine = {key: value for key, value in own.items() if key != "extends"}
    mine["device"] = {k: v for k, v in (own.get("device") or {}).items() if k != "features"}
    resolved = _merge(base, mine)
    resolved["device"]["features"] = list(match.features)
    resolved["metadata"]["name"] = name
    return _picked(resolved, f"{name}: settings of {match.name} (this CPU: {describe_cpu(members, flags)})")


def _picked(mapping: dict, note: str) -> dict:
    mapping["device"] = {**mapping["device"], "picked": note}
    return mapping


def _merge(base: dict, over: dict) -> dict:
    from edge_pipeline.config.loader import deep_merge

    return deep_merge(base, over)


def family(root: Path, exclude: Path | None = None) -> list[Member]:
    """Built-in profiles descending from ``root`` (itself included) that list explicit features."""
    from edge_pipeline.config.recipes import available_targets, is_builtin_target, lineage, target_mapping

    found = []
    for name, path in available_targets().items():
        if not is_builtin_target(path) or (exclude is not None and path.resolve() == exclude.resolve()):
            continue
        try:
            if lineage(path)[-1].resolve() != root.resolve():
                continue
            features = target_mapping(path).get("device", {}).get("features")
        except ConfigError:
            continue  # a broken profile is its own run's error, not this pick's
        if isinstance(features, list) and features:
            found.append(Member(name, path, tuple(features)))
    return found


def host_matches() -> set[str]:
    """Names of the built-in profiles that ``auto`` would pick on this CPU, one per family."""
    from edge_pipeline.config.recipes import available_targets, is_builtin_target, lineage

    roots = set()
    for path in available_targets().values():
        if is_builtin_target(path):
            try:
                roots.add(lineage(path)[-1].resolve())
            except ConfigError:
                continue
    flags = host_flags()
    picks = (best_match(family(root), flags) for root in roots)
    return {pick.name for pick in picks if pick is not None}


def announce_picks(targets: Mapping[str, TargetProfile]) -> list[str]:
    """A progress line per target whose profile said ``auto``, and the same sentences for the run's notes."""
    from edge_pipeline.progress import progress

    notes = [target.device.picked for target in targets.values() if target.device.picked]
    for note in notes:
        progress("targets", note)
    return notes
