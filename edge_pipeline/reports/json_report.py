"""report.json: one row per (artifact, runtime variant, batch size, threads), with ratios
against the FP32 teacher baseline on the same target and configuration."""

from __future__ import annotations

REPORT_SCHEMA_VERSION = 1


# Rows that stand in for a runtime absent here (TensorRT's Q/DQ model run in ONNX Runtime) compare
# only with each other, never with that runtime's own rows.
SIMULATED_VARIANTS = ("ort-simulated",)


def baseline_key(row: dict) -> tuple:
    return (row["target"], row["batch_size"], row["threads"], row["runtime_variant"] in SIMULATED_VARIANTS)


def is_baseline(row: dict) -> bool:
    return row["model"] == "teacher" and row["precision"] == "fp32" and row["runtime_variant"] in (
        "default", "f32", "tensorrt", *SIMULATED_VARIANTS
    )


def add_ratios(rows: list[dict]) -> list[dict]:
    baselines = {baseline_key(r): r for r in rows if is_baseline(r)}
    for row in rows:
        base = baselines.get(baseline_key(row))
        row["baseline_artifact_id"] = base["artifact_id"] if base else None
        # A simulation's timings are this CPU's, not the target runtime's: no speedup claimed for them.
        timed = base is not None and row["runtime_variant"] not in SIMULATED_VARIANTS
        row["speedup_vs_baseline"] = base["latency_ms"]["p50"] / row["latency_ms"]["p50"] if timed else None
        row["size_ratio_vs_baseline"] = row["size_bytes"] / base["size_bytes"] if base else None
        both = base is not None and row["accuracy"] is not None and base["accuracy"] is not None
        row["accuracy_delta_vs_baseline"] = row["accuracy"] - base["accuracy"] if both else None
    return rows


def build_report(ctx, placed: dict[str, str]) -> dict:
    rows = []
    for result in ctx.results:
        row = dict(result)
        row["artifact"] = placed.get(row["artifact_id"], row["artifact"])
        rows.append(row)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "recipe": ctx.recipe.metadata.name,
        "targets": list(ctx.targets),
        "baseline": "teacher FP32 on each target, same batch size and threads",
        "notes": ctx.notes,
        "results": add_ratios(rows),
        **_mobile(ctx, placed),
    }


def _mobile(ctx, placed: dict[str, str]) -> dict:
    from edge_pipeline.reports.mobile import mobile_section

    section = mobile_section(ctx.artifacts, placed)
    return {"mobile": section} if section else {}
