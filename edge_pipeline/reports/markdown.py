"""report.md: the results table, with ratios against the FP32 teacher baseline."""

from __future__ import annotations


def _fmt(value, pattern: str, missing: str = "–") -> str:
    return missing if value is None else pattern.format(value)


def render_markdown(report: dict) -> str:
    lines = [f"# edge_pipeline report: {report['recipe']}", "", f"Baseline: {report['baseline']}.", ""]
    header = (
        "| target | model | precision | runtime | batch | threads | rounds | p50 ms | p90 ms | p99 ms | throughput/s "
        "| speedup | accuracy % | Δacc | top-1 agree % | size KiB | size ratio | MACs M | params M | peak MiB |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for row in sorted(report["results"], key=lambda r: (r["target"], r["batch_size"], r["threads"], -r["latency_ms"]["p50"])):
        lat = row["latency_ms"]
        lines.append(
            "| "
            + " | ".join(
                [
                    row["target"],
                    row["model"],
                    row["artifact_id"].rsplit("/", 1)[-1],  # precision plus format, e.g. int8-ort-fixed
                    f"{row['backend']}:{row['runtime_variant']}" + (" (host)" if row.get("measured_on") == "host" else ""),
                    str(row["batch_size"]),
                    str(row["threads"]),
                    str(len(row.get("round_p50_ms") or [None])),  # fresh processes pooled into the percentiles
                    f"{lat['p50']:.3f}",
                    f"{lat['p90']:.3f}",
                    f"{lat['p99']:.3f}",
                    f"{row['throughput_per_s']:.0f}",
                    _fmt(row.get("speedup_vs_baseline"), "{:.2f}×"),
                    _fmt(row["accuracy"], "{:.2f}"),
                    _fmt(row.get("accuracy_delta_vs_baseline"), "{:+.2f}"),
                    _fmt(row["top1_agreement"], "{:.2f}"),
                    f"{row['size_bytes'] / 1024:.0f}",
                    _fmt(row.get("size_ratio_vs_baseline"), "{:.2f}"),
                    _fmt(row["macs"] and row["macs"] / 1e6, "{:.1f}"),
                    _fmt(row["params"] and row["params"] / 1e6, "{:.3f}"),
                    f"{row['peak_memory_bytes'] / 2**20:.1f}",
                ]
            )
            + " |"
        )
    if report.get("mobile"):
        from edge_pipeline.reports.mobile import render_mobile_markdown

        lines += render_mobile_markdown(report["mobile"])
    for note in report.get("notes", []):
        lines += ["", f"- {note}"]
    return "\n".join(lines) + "\n"
