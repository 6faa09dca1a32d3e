"""What each INT8 artifact runs in float, as its runtime reports it (read back after the runtime's
own optimizations, recorded by the quantize stage), with the reason where the quantizer gave one;
which layers a mixed INT8 artifact keeps float and why (speed or fidelity, with the per-layer
timings latency-aware placement measured); and a flag on every INT8 row that is not faster than the
same model's FP32 on its target."""

from __future__ import annotations

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.tables import markdown_table


def precision_section(artifacts: list[Artifact]) -> list[dict]:
    """One entry per INT8 artifact whose runtime reported its compute layers."""
    section = []
    for artifact in artifacts:
        executed = artifact.meta.get("executed")
        if artifact.precision != "int8" or not executed:
            continue
        placement = artifact.meta.get("placement") or []
        reasons = {**artifact.meta.get("float_nodes", {}), **{row["node"]: placement_reason(row) for row in placement}}
        floats = [{**layer, "why": reasons.get(layer["name"], "not quantized by the runtime's kernels or the "
                                               "quantizer's scope")}
                  for layer in executed["float_layers"]]
        section.append({"artifact_id": artifact.id, "target": artifact.target, "int8_layers": executed["int8_layers"],
                        "float_layers": floats, "kernels": executed.get("kernels", {}),
                        "read_from": executed.get("read_from", ""), **({"placement": placement} if placement else {})})
    return section


def placement_reason(row: dict) -> str:
    """'speed: INT8 0.074 ms vs FP32 0.041 ms' or 'fidelity: ...' for a layer a mixed artifact keeps float."""
    if row.get("reason") == "speed":
        return f"speed: INT8 {_ms(row.get('int8_ms'))} vs FP32 {_ms(row.get('fp32_ms'))} per inference on this CPU"
    return "fidelity: keeping it float measurably moved the output toward the floor"


MAX_PLACEMENT_ROWS = 8  # per artifact in the report; meta.placement keeps them all


def placement_table(section: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Per mixed INT8 artifact, the layers it keeps float, why, and each layer's INT8 and FP32 time."""
    headers = ["artifact", "layer", "op", "kept float for", "INT8 ms", "FP32 ms"]
    rows = []
    for entry in section:
        placement = entry.get("placement") or []
        rows += [[entry["artifact_id"], row["node"], row.get("op_type") or "–", row["reason"], _ms(row.get("int8_ms")),
                  _ms(row.get("fp32_ms"))] for row in placement[:MAX_PLACEMENT_ROWS]]
        if len(placement) > MAX_PLACEMENT_ROWS:
            rows.append([entry["artifact_id"], f"{len(placement) - MAX_PLACEMENT_ROWS} more in meta.placement",
                         "", "", "", ""])
    return headers, rows


def _ms(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def slower_int8_notes(rows: list[BenchmarkRow], section: list[dict]) -> list[str]:
    """A note per INT8 row whose median latency is not below its FP32's, naming the float layers and
    the kernels its compute layers ran on (an INT8 kernel no faster than the float one on this CPU
    shows there: OpenVINO's jit_gemm_i8 on AVX2 without VNNI)."""
    fp32 = {(r.model, r.target, r.batch_size, r.threads): r for r in rows
            if r.precision == "fp32" and r.reference_variant}
    floats = {entry["artifact_id"]: entry["float_layers"] for entry in section}
    kernels = {entry["artifact_id"]: entry.get("kernels", {}) for entry in section}
    notes = []
    for row in rows:
        reference = fp32.get((row.model, row.target, row.batch_size, row.threads))
        if row.precision != "int8" or reference is None or row.simulated or row.measured_on == "host":
            continue
        if row.latency_ms.p50 < reference.latency_ms.p50:
            continue
        islands = floats.get(row.artifact_id)
        where = (f"; it runs {len(islands)} compute layers in float: "
                 f"{', '.join(layer['name'] for layer in islands[:6])}{' ...' if len(islands) > 6 else ''}"
                 if islands else "")
        ran_on = kernels.get(row.artifact_id)
        on = f"; its compute layers ran on {kernel_counts(ran_on)}" if ran_on else ""
        notes.append(f"INT8 is not faster than FP32: {row.artifact_id} [{row.runtime_variant}] batch {row.batch_size} "
                     f"threads {row.threads} p50 {row.latency_ms.p50:.3f} ms vs FP32 {reference.latency_ms.p50:.3f} ms"
                     f"{where}{on}")
    return notes


def kernel_counts(kernels: dict[str, int]) -> str:
    """'jit_gemm_i8 ×16, brgemm_avx2_f32 ×4' (most used first)."""
    return ", ".join(f"{name} ×{count}" for name, count in kernels.items())


def precision_table(section: list[dict]) -> tuple[list[str], list[list[str]]]:
    headers = ["artifact", "INT8 compute layers", "float compute layers", "why float", "kernels on this host"]
    rows = [[entry["artifact_id"], str(entry["int8_layers"]),
             ", ".join(f"{layer['name']} ({layer['op_type']})" for layer in entry["float_layers"]) or "–",
             "; ".join(sorted({layer["why"] for layer in entry["float_layers"]})) or "–",
             kernel_counts(entry.get("kernels", {})) or "–"]
            for entry in section]
    return headers, rows


def render_precision_markdown(section: list[dict]) -> list[str]:
    if not section:
        return []
    lines = ["", "## What runs in float (read back from each runtime)", ""] + markdown_table(*precision_table(section))
    headers, rows = placement_table(section)
    if rows:
        lines += ["", "## Kept float, and why", "",
                  "Each mixed INT8 artifact's float layers: slower in INT8 than in FP32 on this CPU (per-layer "
                  "times per inference from the runtime's profiler, Q/DQ and reorders included), or needed for the "
                  "fidelity floor.", ""] + markdown_table(headers, rows)
    return lines
