"""Compare a new run against a baseline run, gate by gate, per matching artifact and configuration.

    comparison = compare_runs(load_run("baseline/"), load_run("bundle/"), GateThresholds())
    comparison.passed  # False when any gate failed

Rows match on (artifact id, runtime variant, batch size, threads). Latency is gated per row,
accuracy per (artifact, variant), size per artifact. A target the new run recorded as failed, or
of which it has no row where the baseline had some, fails a "target" gate. Device rows (timed on
a board over ssh) are gated apart, each against the same device's row of the same content
(device_gates.py). A run that is not comparable at all (other recipe or model, or an artifact
the baseline never measured) raises instead of gating.

A baseline from another release series of this tool, another runtime version or another report
schema is still gated on accuracy, fidelity and size, but not on latency, unless the thresholds say
force_comparable; the note and each skipped gate name the versions that differ (comparable.py).

Runs measured on different CPUs (model or instruction-set flags) are still gated on accuracy,
fidelity and size, but not on latency, unless the thresholds say latency_across_cpus; a runtime
mode only one of the two CPUs runs (OpenVINO bf16) is noted, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.failed_targets import failed_targets, failure_line
from edge_pipeline.reports.gates.comparable import versions_differ
from edge_pipeline.reports.gates.device_gates import GATE as DEVICE_GATE
from edge_pipeline.reports.gates.device_gates import device_gates
from edge_pipeline.reports.gates.errors import BaselineMissingArtifactError, ReportMismatchError
from edge_pipeline.reports.gates.recommended_gates import recommended_gates
from edge_pipeline.reports.gates.run_loading import LoadedRun
from edge_pipeline.reports.gates.thresholds import (
    FAIL,
    NOISE,
    PASS,
    SKIPPED,
    GateResult,
    GateThresholds,
    absolute_accuracy_gate,
    accuracy_gate,
    fidelity_gates,
    latency_gate,
    latency_not_comparable,
    latency_other_versions,
    metric_gates,
    missing_gate,
    size_gate,
    variant_not_timed_gate,
)
from edge_pipeline.reports.json_report import baseline_key, is_baseline

TARGET_GATE = "target"


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

    def device_line(self) -> str | None:
        """How the device rows fared, apart from the host rows; None without device rows."""
        gated = [r for r in self.results if r.gate == DEVICE_GATE]
        if not gated:
            return None
        count = {status: sum(1 for r in gated if r.status == status) for status in (FAIL, PASS, NOISE, SKIPPED)}
        return (f"device rows: {count[FAIL]} failed, {count[PASS]} passed, {count[NOISE]} within noise, "
                f"{count[SKIPPED]} skipped")

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
    cpus = different_cpus(baseline, new)
    base_rows = {row_key(r): r for r in baseline.rows}
    new_rows, notes = rows_to_gate(base_rows, {row_key(r): r for r in new.rows}, thresholds, cpus)
    check_baseline_covers(base_rows, new_rows, baseline.source)
    comparison = Comparison(baseline.source, new.source, new.report["recipe"], thresholds,
                            notes=environment_notes(baseline, new, cpus, thresholds) + notes)
    for key, new_row in new_rows.items():
        comparison.results.append(_latency(key, base_rows[key], new_row, baseline, new, thresholds, cpus))
    lower_is_better = (new.report.get("metric") or {}).get("lower_is_better", [])
    for key in _first_per(new_rows, lambda k: k[:2]):
        comparison.results += _accuracy_gates(key, base_rows[key], new_rows[key], baseline, new, thresholds,
                                              lower_is_better)
    for key in _first_per(new_rows, lambda k: k[0]):
        comparison.results.append(size_gate(key[0], base_rows[key], new_rows[key], thresholds))
    new_artifacts = {key[0] for key in new_rows}
    for key in sorted(base_rows.keys() - new_rows.keys()):
        comparison.results.append(_missing(key, new_artifacts, cpus))
    comparison.results += target_gates(baseline, new)
    comparison.results += recommended_gates(baseline, new, thresholds, cpus)
    device_results, device_notes = device_gates(baseline.device_rows, new.device_rows, thresholds)
    comparison.results += device_results
    comparison.notes += device_notes
    return comparison


def _latency(key: tuple, base_row: BenchmarkRow, new_row: BenchmarkRow, baseline: LoadedRun, new: LoadedRun,
             thresholds: GateThresholds, cpus: str | None) -> GateResult:
    differ = versions_differ(baseline, new, base_row, new_row)
    if differ and not thresholds.force_comparable:
        return latency_other_versions(describe(key), base_row, new_row, differ)
    if cpus is not None and not thresholds.latency_across_cpus:
        return latency_not_comparable(describe(key), base_row, new_row, cpus)
    references = (teacher_references(baseline, new, base_row, new_row)
                  if thresholds.latency_basis == "vs-teacher" else None)
    return latency_gate(describe(key), base_row, new_row, thresholds, references)


def _accuracy_gates(key: tuple, base_row: BenchmarkRow, new_row: BenchmarkRow, baseline: LoadedRun,
                    new: LoadedRun, thresholds: GateThresholds, lower_is_better: list[str]) -> list[GateResult]:
    subject = f"{key[0]} [{key[1]}]"
    results = [absolute_accuracy_gate(subject, base_row, new_row, thresholds)]
    if not is_baseline(new_row):  # the FP32 teacher is every other row's reference, not judged against itself
        results.append(accuracy_gate(subject, base_row, new_row, thresholds,
                                     accuracy_references(baseline, new, base_row, new_row)))
    results += fidelity_gates(subject, base_row, new_row, thresholds)
    results += metric_gates(subject, base_row, new_row, thresholds, lower_is_better)
    return results


def target_gates(baseline: LoadedRun, new: LoadedRun) -> list[GateResult]:
    """One failed gate per target the new run recorded as failed (whether or not the baseline had
    it), and per baseline target of which the new run has no row at all."""
    failures = failed_targets(new.report)
    results = [GateResult(TARGET_GATE, failure["target"], FAIL,
                          f"the new run failed this target, so its bundle lacks it: {failure_line(failure)}")
               for failure in failures]
    gone = ({row.target for row in baseline.rows} - {row.target for row in new.rows}
            - {failure["target"] for failure in failures})
    results += [GateResult(TARGET_GATE, target, FAIL, "in the baseline but the new run has no row of this target: "
                           "the release lost it") for target in sorted(gone)]
    return results


def _missing(key: tuple, new_artifacts: set[str], cpus: str | None) -> GateResult:
    # On another CPU a runtime mode can be missing for a reason that is no regression (no bf16 here).
    if cpus is not None and key[0] in new_artifacts:
        return variant_not_timed_gate(describe(key), key[1], cpus)
    return missing_gate(describe(key))


def rows_to_gate(base_rows: dict[tuple, BenchmarkRow], new_rows: dict[tuple, BenchmarkRow],
                 thresholds: GateThresholds, cpus: str | None) -> tuple[dict[tuple, BenchmarkRow], list[str]]:
    """The new run's rows to gate, and notes on those left out: rows of targets the baseline lacks
    (with baseline_targets_only), and runtime modes of a baseline artifact that only the new run's
    CPU runs (bf16 on a CPU that has it, where the baseline's had not)."""
    notes = []
    if thresholds.baseline_targets_only:
        targets = {row.target for row in base_rows.values()}
        left_out = sorted({row.target for row in new_rows.values()} - targets)
        new_rows = {key: row for key, row in new_rows.items() if row.target in targets}
        if left_out:
            notes.append(f"not gated: the new run's targets {', '.join(left_out)} have no rows in the baseline "
                         "(--only-baseline-targets)")
    if cpus is not None:
        base_artifacts = {key[0] for key in base_rows}
        extra = sorted({key[1] for key in new_rows if key not in base_rows and key[0] in base_artifacts})
        new_rows = {key: row for key, row in new_rows.items() if key in base_rows or key[0] not in base_artifacts}
        if extra:
            notes.append(f"not gated: runtime mode(s) {', '.join(extra)} timed only on the new run's CPU "
                         f"({cpus})")
    return new_rows, notes


def accuracy_references(baseline: LoadedRun, new: LoadedRun, base_row: BenchmarkRow,
                        new_row: BenchmarkRow) -> tuple[BenchmarkRow, BenchmarkRow] | None:
    """Each run's FP32 row the artifact's accuracy is judged against (see accuracy_reference)."""
    base_ref, new_ref = accuracy_reference(baseline.rows, base_row), accuracy_reference(new.rows, new_row)
    if base_ref is None or new_ref is None or base_ref.artifact_id != new_ref.artifact_id:
        return None
    return base_ref, new_ref


def accuracy_reference(rows: list[BenchmarkRow], row: BenchmarkRow) -> BenchmarkRow | None:
    """The same model's FP32 reference row for a quantized artifact or another runtime mode (what
    quantization or the mode cost); the FP32 teacher for a model's own FP32 row (what distillation
    or pruning cost). Both were measured in the same run, on the same trained weights."""
    own = next((r for r in rows if r.model == row.model and is_fp32_reference(r)
                and baseline_key(r) == baseline_key(row)), None)
    if own is not None and own is not row:
        return own
    return reference_row(rows, row)


def is_fp32_reference(row: BenchmarkRow) -> bool:
    return row.precision == "fp32" and row.reference_variant


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
    # An unset field is no difference: a newer schema records new model sources (onnx: null) that an
    # older baseline's snapshot lacks.
    model = {key: value for key, value in snapshot.get("model", {}).items() if value not in (None, {}, [])}
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
    base_targets = {row.target for row in base_rows.values()}
    other_targets = sorted({new_rows[key].target for key in missing} - base_targets)
    # The usual cause: a multi-target bundle against a one-target baseline (scripts/release stores one per target).
    hint = (f"; the baseline has no rows of target(s) {', '.join(other_targets)}: pass --only-baseline-targets "
            "to gate only its targets" if other_targets else "")
    raise BaselineMissingArtifactError(
        f"baseline {baseline_source} has no measurement for {shown}; "
        f"store a baseline from a run with the same artifacts and benchmark configurations{hint}"
    )


def environment_notes(baseline: LoadedRun, new: LoadedRun, cpus: str | None,
                      thresholds: GateThresholds) -> list[str]:
    """Differences that do not stop the comparison but change how far latency numbers can be trusted."""
    notes = []
    if cpus is not None:
        notes.append(f"measured on different CPUs ({cpus}): " + (
            "latency gated anyway (--latency-across-cpus); its differences include the hardware"
            if thresholds.latency_across_cpus else "latency not comparable, not gated"))
    elif cpu_identity(baseline) is None or cpu_identity(new) is None:
        notes.append("a run records no host CPU (no manifest.json beside its report): latency is compared as if "
                     "both were measured on the same CPU")
    differ = sorted({line for b, n in _matched_rows(baseline, new) for line in versions_differ(baseline, new, b, n)})
    if differ:
        notes.append(f"baseline not comparable for latency: other versions ({', '.join(differ)}): " + (
            "latency gated anyway (--force-comparable)" if thresholds.force_comparable
            else "latency not gated (--force-comparable gates it); accuracy, fidelity and size still are"))
    if baseline.manifest and new.manifest:
        changed = _changed_versions(baseline.manifest.get("tool_versions", {}), new.manifest.get("tool_versions", {}))
        if changed:
            notes.append("tool versions changed: " + ", ".join(changed))
    return notes


def _matched_rows(baseline: LoadedRun, new: LoadedRun) -> list[tuple[BenchmarkRow, BenchmarkRow]]:
    base_rows = {row_key(r): r for r in baseline.rows}
    return [(base_rows[row_key(r)], r) for r in new.rows if row_key(r) in base_rows]


def cpu_identity(run: LoadedRun) -> tuple[str, tuple[str, ...] | None] | None:
    """What decides whether two runs' timings compare: the CPU model and its instruction-set flags
    (the same model name can come with or without AVX-512 VNNI in a VM). None: not recorded."""
    host = (run.manifest or {}).get("host") or run.report.get("host")
    if not isinstance(host, dict) or not host.get("cpu_model"):
        return None
    flags = host.get("cpu_flags")
    return str(host["cpu_model"]), (tuple(sorted(flags)) if isinstance(flags, list) else None)


def different_cpus(baseline: LoadedRun, new: LoadedRun) -> str | None:
    """'baseline X vs new Y' when the two runs were timed on different CPUs, else None (also when unknown)."""
    base, other = cpu_identity(baseline), cpu_identity(new)
    if base is None or other is None:
        return None
    same_flags = base[1] is None or other[1] is None or base[1] == other[1]
    if base[0] == other[0] and same_flags:
        return None
    return f"baseline {_describe_cpu(base)} vs new {_describe_cpu(other)}"


def _describe_cpu(identity: tuple[str, tuple[str, ...] | None]) -> str:
    model, flags = identity
    return f"{model} [{' '.join(flags) or 'no listed flags'}]" if flags is not None else model


def _changed_versions(base: dict, new: dict) -> list[str]:
    return [f"{name} {base.get(name)} -> {new.get(name)}"
            for name in sorted(base.keys() | new.keys()) if base.get(name) != new.get(name)]
