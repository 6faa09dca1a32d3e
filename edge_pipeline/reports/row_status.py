"""Which rows may headline a report, and why the others may not.

A row timed on this host for another ISA (ARM artifacts run on x86) or in a stand-in runtime
(TensorRT's Q/DQ model in ONNX Runtime) says nothing about the device's speed: it is shown, labelled,
but never picked for the "at a glance" cards nor put on a Pareto front beside real device timings.
"""

from __future__ import annotations

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.html.pareto import pareto_front


def headline_eligible(row: BenchmarkRow) -> bool:
    """The row's own ``headline_eligible``, and in any case only rows really timed on the target: in
    a report written before the field existed it reads True, so the timing scope decides alone."""
    return row.headline_eligible and not row.simulated and row.measured_on != "host"


def row_warnings(row: BenchmarkRow) -> list[str]:
    """The row's measurement warnings (an empty list in older reports)."""
    return list(row.warnings)


def timing_kind(row: BenchmarkRow) -> str:
    """'target', 'host' (another ISA's artifact timed here) or 'simulated' (a stand-in runtime)."""
    if row.simulated:
        return "simulated"
    return "host" if row.measured_on == "host" else "target"


TIMING_EXPLAINED = {
    "host": "timed on this host, not on the target device",
    "simulated": "timed in a stand-in runtime on this CPU, not the target runtime",
}


def headline_cell(row: BenchmarkRow) -> str:
    """'yes', or 'no: <why>' for the results table."""
    if headline_eligible(row):
        return "yes"
    kind = timing_kind(row)
    return f"no: {kind}-timed" if kind == "host" else ("no: simulated" if kind == "simulated" else "no")


def headline_rows(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    return [row for row in rows if headline_eligible(row)]


def front_of(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """The Pareto front (latency down, accuracy up) of the headline-eligible scored rows, fastest first."""
    scored = [r for r in headline_rows(rows) if r.accuracy is not None]
    return [scored[i] for i in pareto_front([(r.latency_ms.p50, r.accuracy or 0.0) for r in scored])]


def best_on_front(rows: list[BenchmarkRow]) -> BenchmarkRow | None:
    """The fastest headline row no other headline row beats on both latency and accuracy; unscored
    rows count only when no row has an accuracy. None when no row may headline."""
    front = front_of(rows)
    if front:
        return front[0]
    eligible = headline_rows(rows)
    return min(eligible, key=lambda r: r.latency_ms.p50) if eligible else None


def why_no_headline(rows: list[BenchmarkRow]) -> str:
    """For a target without a headline row: what its rows are instead."""
    kinds = sorted({timing_kind(r) for r in rows} - {"target"})
    if not kinds:
        return "no row may headline"
    return "every row " + " or ".join(TIMING_EXPLAINED[k] for k in kinds)


def artifact_tail(row: BenchmarkRow) -> str:
    """The artifact id after model and target: the precision plus any format, e.g. int8-ort-fixed."""
    return row.artifact_id.rsplit("/", 1)[-1]


def short_label(row: BenchmarkRow) -> str:
    """Model, artifact and any non-reference runtime mode: enough to name a row inside one target."""
    plain = row.reference_variant and not row.simulated
    variant = "" if plain else f" [{row.runtime_variant}]"
    return f"{row.model} {artifact_tail(row)}{variant}"


def target_order(rows: list[BenchmarkRow]) -> list[str]:
    """Targets with real timings first, then those only host-timed or simulated; by name within each."""
    eligible = {r.target for r in headline_rows(rows)}
    return sorted({r.target for r in rows}, key=lambda t: (t not in eligible, t))


def glance(rows: list[BenchmarkRow]) -> list[tuple[str, BenchmarkRow | None, str]]:
    """Per target: its headline row (or None) and, for None, why it has none."""
    found = []
    for target in target_order(rows):
        own = [r for r in rows if r.target == target]
        eligible = headline_rows(own)
        # One configuration per card: a batch-8 latency is not a faster batch-1 one.
        config = min(((r.batch_size, r.threads) for r in eligible), default=None)
        best = best_on_front([r for r in eligible if (r.batch_size, r.threads) == config])
        found.append((target, best, "" if best else why_no_headline(own)))
    return found


def glance_facts(best: BenchmarkRow) -> list[str]:
    """The headline row's figures, one short phrase each, for a card or a Markdown line."""
    facts = [f"p50 {best.latency_ms.p50:.3f} ms (batch {best.batch_size}, {best.threads} threads)"]
    if best.speedup_vs_baseline:
        facts.append(f"{best.speedup_vs_baseline:.2f}× vs FP32 teacher")
    if best.accuracy is not None:
        delta = best.accuracy_delta_vs_baseline
        facts.append(f"accuracy {best.accuracy:.2f}%" + (f" ({delta:+.2f} pp)" if delta is not None else ""))
    if best.size_bytes:
        facts.append(f"size {best.size_bytes / 1024:.0f} KiB")
    return facts
