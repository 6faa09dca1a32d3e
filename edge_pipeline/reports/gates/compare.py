"""Compare a new run against a baseline run, gate by gate, per matching artifact and configuration.

    comparison = compare_runs(load_run("baseline/"), load_run("bundle/"), GateThresholds())
    comparison.passed  # False when any gate failed

Rows match on (artifact id, runtime variant, batch size, threads). Latency is gated per row,
accuracy per (artifact, variant), size per artifact. A run that is not comparable at all (other
recipe or model, or an artifact the baseline never measured) raises instead of gating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.gates.errors import BaselineMissingArtifactError, ReportMismatchError
from edge_pipeline.reports.gates.run_loading import LoadedRun
from edge_pipeline.reports.gates.thresholds import (
    FAIL,
    NOISE,
    PASS,
    SKIPPED,
    GateResult,
    GateThresholds,
    accuracy_gate,
    fidelity_gates,
    latency_gate,
    metric_gates,
    missing_gate,
    size_gate,
)
from edge_pipeline.reports.json_report import baseline_key, is_baseline


@dataclass
class Comparison:
    baseline: Path
    new: Path
    recipe: str
    thresholds: GateThresholds
    results: list[GateResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def headline(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"release gates {verdict}: {self.count(FAIL)} failed, {self.count(PASS)} passed, "
                f"{self.count(NOISE)} within noise, {self.count(SKIPPED)} skipped")


def row_key(row: BenchmarkRow) -> tuple:
    return (row.artifact_id, row.runtime_variant, row.batch_size, row.threads)


def describe(key: tuple) -> str:
    artifact_id, variant, batch, threads = key
    return f"{artifact_id} [{variant}] batch {batch} threads {threads}"


def compare_runs(baseline: LoadedRun, new: LoadedRun, thresholds: GateThresholds) -> Comparison:
    check_same_subject(baseline, new)
    base_rows = {row_key(r): r for r in baseline.rows}
    new_rows = {row_key(r): r for r in new.rows}
    check_baseline_covers(base_rows, new_rows, baseline.source)
    comparison = Comparison(baseline.source, new.source, new.report["recipe"], thresholds,
                            notes=environment_notes(baseline, new))
    lower_is_better = (new.report.get("metric") or {}).get("lower_is_better", [])
    for key, new_row in new_rows.items():
        references = (teacher_references(baseline, new, base_rows[key], new_row)
                      if thresholds.latency_basis == "vs-teacher" else None)
        comparison.results.append(latency_gate(describe(key), base_rows[key], new_row, thresholds, references))
    for key in _first_per(new_rows, lambda k: k[:2]):
        subject = f"{key[0]} [{key[1]}]"
        comparison.results.append(accuracy_gate(subject, base_rows[key], new_rows[key], thresholds))
        comparison.results += fidelity_gates(subject, base_rows[key], new_rows[key], thresholds)
        comparison.results += metric_gates(subject, base_rows[key], new_rows[key], thresholds, lower_is_better)
    for key in _first_per(new_rows, lambda k: k[0]):
        comparison.results.append(size_gate(key[0], base_rows[key], new_rows[key], thresholds))
    for key in sorted(base_rows.keys() - new_rows.keys()):
        comparison.results.append(missing_gate(describe(key)))
    return comparison


def teacher_references(baseline: LoadedRun, new: LoadedRun, base_row: BenchmarkRow,
                       new_row: BenchmarkRow) -> tuple[BenchmarkRow, BenchmarkRow] | None:
    """Each run's FP32 teacher row in the row's own target and configuration, the report's baseline."""
    base_ref = reference_row(baseline.rows, base_row)
    new_ref = reference_row(new.rows, new_row)
    return (base_ref, new_ref) if base_ref is not None and new_ref is not None else None


def reference_row(rows: list[BenchmarkRow], row: BenchmarkRow) -> BenchmarkRow | None:
    return next((r for r in rows if is_baseline(r) and baseline_key(r) == baseline_key(row)), None)


def _first_per(rows: dict[tuple, BenchmarkRow], group) -> list[tuple]:
    seen: dict = {}
    for key in rows:
        seen.setdefault(group(key), key)
    return list(seen.values())


def check_same_subject(baseline: LoadedRun, new: LoadedRun) -> None:
    base_recipe, new_recipe = baseline.report["recipe"], new.report["recipe"]
    if base_recipe != new_recipe:
        raise ReportMismatchError(
            f"baseline {baseline.source} is from recipe '{base_recipe}', new {new.source} from '{new_recipe}'; "
            "compare two runs of the same recipe"
        )
    if baseline.manifest is None or new.manifest is None:
        return
    base_model, new_model = model_identity(baseline.manifest), model_identity(new.manifest)
    if base_model != new_model:
        raise ReportMismatchError(
            f"baseline model {base_model} differs from new model {new_model}; "
            "compare two runs of the same model (store a new baseline when the model changes)"
        )


def model_identity(manifest: dict) -> dict:
    """What makes two runs measure the same model: its source and its input, not where files lived."""
    snapshot = manifest.get("recipe", {}).get("snapshot", {})
    model = dict(snapshot.get("model", {}))
    for key in ("checkpoint", "program"):
        if model.get(key):
            model[key] = Path(model[key]).name
    input_spec = snapshot.get("input", {})
    return {**model, "input_shape": input_spec.get("shape"), "input_dtype": input_spec.get("dtype")}


def check_baseline_covers(base_rows: dict[tuple, BenchmarkRow], new_rows: dict[tuple, BenchmarkRow],
                          baseline_source: Path) -> None:
    missing = [key for key in new_rows if key not in base_rows]
    if not missing:
        return
    shown = "; ".join(describe(k) for k in missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise BaselineMissingArtifactError(
        f"baseline {baseline_source} has no measurement for {shown}; "
        "store a baseline from a run with the same artifacts and benchmark configurations"
    )


def environment_notes(baseline: LoadedRun, new: LoadedRun) -> list[str]:
    """Differences that do not stop the comparison but change how far latency numbers can be trusted."""
    notes = []
    if baseline.manifest and new.manifest:
        base_host, new_host = _host_identity(baseline.manifest), _host_identity(new.manifest)
        if base_host != new_host:
            notes.append(
                f"measured on different hosts ({base_host} vs {new_host}): latency differences include the hardware"
            )
        changed = _changed_versions(baseline.manifest.get("tool_versions", {}), new.manifest.get("tool_versions", {}))
        if changed:
            notes.append("tool versions changed: " + ", ".join(changed))
    return notes


def _host_identity(manifest: dict) -> str:
    host = manifest.get("host", {})
    return f"{host.get('cpu_model', '?')}, {host.get('usable_cpus', host.get('logical_cpus', '?'))} CPUs"


def _changed_versions(base: dict, new: dict) -> list[str]:
    return [f"{name} {base.get(name)} -> {new.get(name)}"
            for name in sorted(base.keys() | new.keys()) if base.get(name) != new.get(name)]
