"""Device rows gated against device rows: a board's latency against the same board's, never a host's.

Rows match on the device's name and what was timed how: the artifact (its bundle id; a file timed
outside a bundle by its content), precision, runtime variant, batch size, threads and streams. A
release rebuilds its artifacts, so the same artifact with new content is gated, as host rows are,
and the notes say whose content changed. The latency gate is the host rows' (p50, noise
aware), on absolute p50: both rows come from one board, so there is no machine difference for a
teacher ratio to cancel. Two boards of one name that differ (CPU model or flags, Jetson board
model) are not comparable unless --latency-across-cpus; a changed power mode or clock lock is noted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from edge_pipeline.benchmarking.rows import LatencyStats
from edge_pipeline.reports.device_rows import DeviceRow, board_state, device_identity
from edge_pipeline.reports.gates.thresholds import (
    FAIL,
    GateResult,
    GateThresholds,
    latency_gate,
    latency_not_comparable,
)

GATE = "device-latency"


@dataclass(frozen=True)
class _Timing:
    """A timed device row as the latency gate reads it."""

    latency_ms: LatencyStats
    samples_ms: Sequence[float]


def device_key(row: DeviceRow) -> tuple:
    return (row.device, row.artifact_id or row.sha256, row.precision, row.runtime_variant, row.batch_size,
            row.threads, row.streams)


def describe(row: DeviceRow) -> str:
    streams = f" streams {row.streams}" if row.streams is not None else ""
    return (f"device {row.device}: {row.artifact_id or row.artifact} [{row.runtime_variant}] batch {row.batch_size} "
            f"threads {row.threads}{streams}")


def device_gates(base_rows: list[DeviceRow], new_rows: list[DeviceRow],
                 thresholds: GateThresholds) -> tuple[list[GateResult], list[str]]:
    """A latency gate per baseline device row, and notes on what was not gated."""
    base = {device_key(r): r for r in base_rows if r.latency_ms is not None}
    new = {device_key(r): r for r in new_rows if r.latency_ms is not None}
    limits = thresholds.model_copy(update={"latency_basis": "absolute"})
    results = [_latency(row, new[key], limits) if key in new else _absent(row, list(new.values()))
               for key, row in base.items()]
    return results, _notes(base, new, thresholds)


def _latency(base: DeviceRow, new: DeviceRow, limits: GateThresholds) -> GateResult:
    subject = describe(new)
    boards = different_boards(base, new)
    before, after = _timing(base), _timing(new)
    if boards is not None and not limits.latency_across_cpus:
        result = latency_not_comparable(subject, before, after, boards)
    else:
        result = latency_gate(subject, before, after, limits)
    return dataclasses.replace(result, gate=GATE)


def _timing(row: DeviceRow) -> _Timing:
    if row.latency_ms is None:  # device_gates passes timed rows only
        raise ValueError(f"{describe(row)} has no timing")
    return _Timing(row.latency_ms, row.samples_ms)


def _absent(base: DeviceRow, new_rows: list[DeviceRow]) -> GateResult:
    """A baseline device row the new run has no match for: a device or configuration the new run lost
    fails, as a lost artifact does."""
    subject = describe(base)
    if not any(r.device == base.device for r in new_rows):
        return GateResult(GATE, subject, FAIL, f"device '{base.device}' has no timed rows in the new run: attach "
                          f"them with `edge-pipeline benchmark --device {base.device} --bundle BUNDLE`")
    return GateResult(GATE, subject, FAIL, "in the baseline's device rows but missing from the new run's")


def different_boards(base: DeviceRow, new: DeviceRow) -> str | None:
    """'baseline X vs new Y' when the two rows were timed on different boards, else None (also unknown)."""
    a, b = device_identity(base), device_identity(new)
    if a is None or b is None:
        return None
    same_flags = a[1] is None or b[1] is None or a[1] == b[1]
    if a[0] == b[0] and same_flags and a[2] == b[2]:
        return None
    return f"baseline {_board(a)} vs new {_board(b)}"


def _board(identity: tuple[str, tuple[str, ...] | None, str | None]) -> str:
    model, flags, board = identity
    flags_text = f" [{' '.join(flags) or 'no listed flags'}]" if flags is not None else ""
    return f"{board + ': ' if board else ''}{model}{flags_text}"


def _notes(base: dict[tuple, DeviceRow], new: dict[tuple, DeviceRow], thresholds: GateThresholds) -> list[str]:
    notes = []
    extra = [row for key, row in new.items() if key not in base]
    if extra:
        notes.append(f"not gated: {len(extra)} device row(s) of the new run have no baseline device row of the same "
                     f"device, content, batch and threads (e.g. {describe(extra[0])})")
    for device in sorted({row.device for row in new.values()} & {row.device for row in base.values()}):
        states = [board_state(next(r for r in rows.values() if r.device == device).fingerprint)
                  for rows in (base, new)]
        if states[0] != states[1]:
            notes.append(f"device {device}: power and clock state changed ({states[0] or 'unknown'} -> "
                         f"{states[1] or 'unknown'}): its latency changes include that")
    changed = [describe(row) for key, row in new.items() if key in base and base[key].sha256 != row.sha256]
    if changed:
        notes.append(f"{len(changed)} device row(s) time a rebuilt artifact (new sha256), e.g. {changed[0]}")
    partial = sorted({row.device for row in new.values() if row.partial})
    if partial:
        notes.append(f"device rows of {', '.join(partial)} come from runs that stopped early (partial)")
    if base and thresholds.latency_basis == "vs-teacher":
        notes.append("device rows are gated on absolute p50 (each against the same board's)")
    return notes
