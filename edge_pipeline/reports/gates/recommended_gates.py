"""Gates on each target's recommended artifact: the row a release ships, against the baseline's
recommended row of the same target, whichever artifact each run chose. The other artifacts keep
their own gates (compare.py); these say whether what ships got slower or less faithful.

A target the baseline recommended for and the new run does not (pending, none, or no section) fails:
the release lost its answer to "what do I ship?". A baseline without a host-timed recommendation
for a target gates nothing there.
"""

from __future__ import annotations

import dataclasses

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.gates.comparable import versions_differ
from edge_pipeline.reports.gates.run_loading import LoadedRun
from edge_pipeline.reports.gates.thresholds import (
    FAIL,
    GateResult,
    GateThresholds,
    absolute_accuracy_gate,
    fidelity_gates,
    latency_gate,
    latency_not_comparable,
    latency_other_versions,
)
from edge_pipeline.reports.json_report import baseline_key, is_baseline
from edge_pipeline.reports.recommend import SECTION, recommended_row

GATE = "recommended"


def recommended_gates(baseline: LoadedRun, new: LoadedRun, thresholds: GateThresholds,
                      cpus: str | None) -> list[GateResult]:
    """Latency, accuracy and fidelity of each target's recommended row against the baseline's."""
    base_section, new_section = _section(baseline), _section(new)
    new_targets = {row.target for row in new.rows}
    results = []
    for target, base_entry in sorted(base_section.items()):
        base_row = recommended_row(baseline.rows, base_entry)
        if base_row is None or target not in new_targets:
            continue  # nothing recommended to hold the new run to; a lost target fails the target gate
        entry = new_section.get(target) or {}
        new_row = recommended_row(new.rows, entry)
        if new_row is None:
            why = entry.get("reason") or "the new report has no recommendation for it"
            results.append(GateResult(GATE, target, FAIL, f"the baseline recommended {_name(base_row)}; the new run "
                                      f"recommends nothing: {why}"))
            continue
        subject = f"{target}: {_name(base_row)} -> {_name(new_row)}"
        gated = [_latency(subject, base_row, new_row, baseline, new, thresholds, cpus),
                 absolute_accuracy_gate(subject, base_row, new_row, thresholds),
                 *fidelity_gates(subject, base_row, new_row, thresholds)]
        results += [dataclasses.replace(result, gate=f"{GATE} {result.gate}") for result in gated]
    return results


def _latency(subject: str, base_row: BenchmarkRow, new_row: BenchmarkRow, baseline: LoadedRun, new: LoadedRun,
             thresholds: GateThresholds, cpus: str | None) -> GateResult:
    differ = versions_differ(baseline, new, base_row, new_row)
    if differ and not thresholds.force_comparable:
        return latency_other_versions(subject, base_row, new_row, differ)
    if cpus is not None and not thresholds.latency_across_cpus:
        return latency_not_comparable(subject, base_row, new_row, cpus)
    references = None
    if thresholds.latency_basis == "vs-teacher":
        base_ref, new_ref = _teacher(baseline.rows, base_row), _teacher(new.rows, new_row)
        references = (base_ref, new_ref) if base_ref is not None and new_ref is not None else None
    return latency_gate(subject, base_row, new_row, thresholds, references)


def _teacher(rows: list[BenchmarkRow], row: BenchmarkRow) -> BenchmarkRow | None:
    return next((r for r in rows if is_baseline(r) and baseline_key(r) == baseline_key(row)), None)


def _section(run: LoadedRun) -> dict:
    section = run.report.get(SECTION) or {}
    return {str(k): v for k, v in section.items() if isinstance(v, dict)} if isinstance(section, dict) else {}


def _name(row: BenchmarkRow) -> str:
    return f"{row.artifact_id} [{row.runtime_variant}]"
