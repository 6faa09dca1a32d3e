"""Whether a report's timings can be trusted, and on what machine they were taken.

Per row: ``warnings`` (the machine was loaded while it was timed; its samples spread widely; its
fresh processes disagree) and
``headline_eligible`` (False for host-timed or simulated rows: those never stand in headline
figures). Per report: ``measurement_warnings`` (one deduplicated line per problem, naming the rows
or the load figure and the fix) and ``run_info`` (host, CPU, load, clocks, versions).

Everything here is a pure function of the rows (plus the usable CPU count), so a report rebuilt
from report.json gets the same warnings, and a rebuilt row's warnings replace, never stack.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from datetime import datetime, timezone

from edge_pipeline.benchmarking import host
from edge_pipeline.benchmarking.rows import BenchmarkRow

# p90/p50 above this: a tail this heavy on a quiet machine is rare for CPU inference; it is
# usually preemption, frequency changes or a neighbour sharing the cores.
SPREAD_RATIO_MAX = 1.5
# The slowest round's p50 over the fastest's above this: the machine ran at different speeds in
# different worker processes (a lent Xeon VM's AMX path flipped between two speeds 2-2.5x apart,
# even within one process on one pinned vCPU), so the pooled p50 depends on how the rounds fell.
ROUND_SPREAD_MAX = 1.5
# The median's 95% CI wider than this fraction of the median: the p50 itself is not pinned down
# well enough to compare two rows a few percent apart (too few samples or a noisy machine).
CI_WIDTH_MAX = 0.20
# Rows timed further apart than this (re-used from the stage cache) saw different machine states.
MAX_TIMING_SPAN_H = 24.0
# How many rows a warning names before "and N more": enough to find them, short enough to read.
ROWS_NAMED = 4

FIX_LOAD = "re-run on an idle machine, or pin the benchmark to free cores with taskset"
FIX_NOISE = "re-run on an idle machine, pin with taskset, or raise benchmark.iterations"
FIX_CACHE = "re-time every row in one go: `edge-pipeline cache clean --stage benchmark`, then re-run"


def headline_eligible(row: BenchmarkRow) -> bool:
    """Host-timed rows time the artifact on the wrong machine; simulated ones in a stand-in runtime."""
    return not row.simulated and row.measured_on != "host"


def row_warnings(row: BenchmarkRow, usable_cpus: int | None) -> list[str]:
    found = [_load_warning(row, usable_cpus), _spread_warning(row), _ci_warning(row), _round_warning(row)]
    return [warning for warning in found if warning]


def with_measurement_checks(rows: list[BenchmarkRow], usable_cpus: int | None) -> list[BenchmarkRow]:
    """New rows (rows are frozen) with their ``warnings`` and ``headline_eligible`` recomputed."""
    return [row.model_copy(update={"warnings": row_warnings(row, usable_cpus),
                                   "headline_eligible": headline_eligible(row)}) for row in rows]


def peak_load(row: BenchmarkRow) -> float | None:
    """The higher 1-minute load average of the row's timing start and end, when recorded."""
    ones = [loads[0] for loads in (row.load_avg_start, row.load_avg_end) if loads]
    return max(ones) if ones else None


def _load_warning(row: BenchmarkRow, usable_cpus: int | None) -> str | None:
    # More runnable threads than usable CPUs: some waited for a core, and the waits are in the samples.
    load = peak_load(row)
    if load is None or not usable_cpus or load <= usable_cpus:
        return None
    return f"load {load:.2f} (1-min average) above {usable_cpus} usable CPUs while timed"


def _spread_warning(row: BenchmarkRow) -> str | None:
    ratio = spread_ratio(row)
    return f"spread p90/p50 {ratio:.2f}" if ratio is not None and ratio > SPREAD_RATIO_MAX else None


def spread_ratio(row: BenchmarkRow) -> float | None:
    p50 = row.latency_ms.p50
    return row.latency_ms.p90 / p50 if p50 > 0 else None


def round_spread(row: BenchmarkRow) -> float | None:
    rounds = [p50 for p50 in row.round_p50_ms if p50 > 0]
    return max(rounds) / min(rounds) if len(rounds) > 1 else None


def _round_warning(row: BenchmarkRow) -> str | None:
    ratio = round_spread(row)
    return (f"rounds disagree: slowest round's p50 {ratio:.2f}x the fastest's"
            if ratio is not None and ratio > ROUND_SPREAD_MAX else None)


def _ci_warning(row: BenchmarkRow) -> str | None:
    width = ci_width(row)
    return f"median CI95 width {width:.0%} of p50" if width is not None and width > CI_WIDTH_MAX else None


def ci_width(row: BenchmarkRow) -> float | None:
    low, high = row.latency_ms.median_ci95
    p50 = row.latency_ms.p50
    # (0, 0) is LatencyStats' default: no interval was computed, which is not a narrow one.
    return (high - low) / p50 if p50 > 0 and (low, high) != (0.0, 0.0) else None


def row_label(row: BenchmarkRow) -> str:
    return f"{row.artifact_id} [{row.runtime_variant}] batch {row.batch_size} threads {row.threads}"


def measurement_warnings(rows: list[BenchmarkRow], usable_cpus: int | None) -> list[str]:
    """The report's warnings, one line per problem, deduplicated, each with its fix."""
    found = [_loaded_rows(rows, usable_cpus), _noisy_rows(rows), _wide_ci_rows(rows), _unsteady_rows(rows),
             _mixed_hosts(rows), _timing_span(rows)]
    return list(dict.fromkeys(warning for warning in found if warning))


def _named(labels: list[str]) -> str:
    shown = ", ".join(labels[:ROWS_NAMED])
    return shown + (f" and {len(labels) - ROWS_NAMED} more" if len(labels) > ROWS_NAMED else "")


def _loaded_rows(rows: list[BenchmarkRow], usable_cpus: int | None) -> str | None:
    loaded = [row for row in rows if _load_warning(row, usable_cpus)]
    if not loaded:
        return None
    peak = max(peak_load(row) or 0.0 for row in loaded)
    return (f"The machine was loaded while timing: 1-min load average up to {peak:.2f} with {usable_cpus} usable "
            f"CPUs, for {_named([row_label(r) for r in loaded])}; {FIX_LOAD}.")


def _noisy_rows(rows: list[BenchmarkRow]) -> str | None:
    noisy = [f"{row_label(row)} ({spread_ratio(row):.2f})" for row in rows if _spread_warning(row)]
    if not noisy:
        return None
    return f"Widely spread timings (p90/p50 above {SPREAD_RATIO_MAX}): {_named(noisy)}; {FIX_NOISE}."


def _wide_ci_rows(rows: list[BenchmarkRow]) -> str | None:
    wide = [f"{row_label(row)} ({ci_width(row):.0%})" for row in rows if _ci_warning(row)]
    if not wide:
        return None
    return (f"Medians not pinned down (95% CI wider than {CI_WIDTH_MAX:.0%} of p50): {_named(wide)}; "
            f"{FIX_NOISE}.")


def _unsteady_rows(rows: list[BenchmarkRow]) -> str | None:
    unsteady = [f"{row_label(row)} ({round_spread(row):.2f}x)" for row in rows if _round_warning(row)]
    if not unsteady:
        return None
    return (f"The machine's speed changed between rounds (slowest round's p50 over the fastest's above "
            f"{ROUND_SPREAD_MAX}): {_named(unsteady)}; their p50s depend on how the rounds fell (speedups "
            f"between rows timed in the same rounds still compare); {FIX_NOISE}.")


def _mixed_hosts(rows: list[BenchmarkRow]) -> str | None:
    # One report must never silently compare two machines: a cache shared between look-alike hosts
    # (same CPU model, so the same cache keys) hands back the other host's timings.
    by_host: dict[str, list[str]] = {}
    for row in rows:
        if row.measured_host:
            by_host.setdefault(row.measured_host, []).append(row_label(row))
    if len(by_host) < 2:
        return None
    hosts = "; ".join(f"{name}: {len(labels)} rows, e.g. {labels[0]}" for name, labels in sorted(by_host.items()))
    return f"This report mixes timings from {len(by_host)} machines ({hosts}); {FIX_CACHE}."


def _timing_span(rows: list[BenchmarkRow]) -> str | None:
    stamps = timed_rows(rows)
    if len(stamps) < 2:
        return None
    (first, oldest), (last, _) = stamps[0], stamps[-1]
    hours = (last - first).total_seconds() / 3600
    if hours <= MAX_TIMING_SPAN_H:
        return None
    return (f"Timings in this report were taken {hours:.0f} h apart ({first.isoformat()} to {last.isoformat()}; "
            f"oldest: {row_label(oldest)}, re-used from the stage cache); {FIX_CACHE}.")


def timed_rows(rows: list[BenchmarkRow]) -> list[tuple[datetime, BenchmarkRow]]:
    """(time timed, row) for the rows that carry one, oldest first."""
    stamped = [(when, row) for row in rows if (when := _parsed(row.measured_at)) is not None]
    return sorted(stamped, key=lambda pair: pair[0])


def _parsed(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def run_info(rows: list[BenchmarkRow], tool_versions: Mapping[str, str] | None = None) -> dict:
    """The machine writing the report, and when and under what load its rows were timed.

    ``load_avg_start`` is the earliest-timed row's load before its timing, ``load_avg_end`` the
    latest-timed row's after: the load at the start and end of the timing the report holds.
    Key names match what reports/run_info.py labels (``host``, ``versions``).
    """
    timed = timed_rows(rows)
    first, last = (timed[0][1], timed[-1][1]) if timed else (None, None)
    return {
        **_host_info(),
        "load_avg_start": first.load_avg_start if first else None,
        "load_avg_end": last.load_avg_end if last else None,
        "measured_from_utc": first.measured_at if first else None,
        "measured_until_utc": last.measured_at if last else None,
        "measured_hosts": sorted({row.measured_host for row in rows if row.measured_host}),
        "versions": dict(tool_versions or {}),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _host_info() -> dict:
    return {
        "host": platform.node(),
        "cpu_model": host.cpu_model(),
        "cpu_flags": host.cpu_flags(),
        "usable_cpus": host.usable_cpus(),
        "physical_cores": host.physical_cores(),
        "clock_state": host.cpu_frequencies()["clock_state"],
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
