"""Benchmark result files: the JSON written by `edge-pipeline benchmark`, its CSV flattening, and
the per-configuration comparison of two such files (e.g. the same bundle on two devices).

Two files' configurations match by the artifact's content (the sha256 each result carries) when
both files record it, so a renamed copy still matches and another model of the same file name (every
target's INT8 is model.int8.onnx) does not; files written before results carried it match by name."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from edge_pipeline.errors import ConfigError

RESULT_KIND = "edge_pipeline.benchmark"
RESULT_SCHEMA_VERSION = 2
CSV_COLUMNS = (
    "artifact", "backend", "variant", "batch_size", "threads", "streams", "p50_ms", "p90_ms", "p99_ms",
    "mean_ms", "std_ms", "mad_ms", "median_ci95_low_ms", "median_ci95_high_ms", "outliers", "n",
    "throughput_per_s", "load_s", "first_inference_ms", "warmup_calls", "skipped", "host", "cpu_model", "sha256",
    "device",  # the devices.yaml name of the board that timed it (`benchmark --device`); empty: this host
)


def config_rows(report: dict) -> list[dict]:
    """One flat row per (artifact, configuration), skipped ones included with the reason."""
    host = report.get("host", {})
    rows = []
    for result in report["results"]:
        for config in result["configs"]:
            lat = config.get("latency_ms") or {}
            ci = lat.get("median_ci95") or [None, None]
            rows.append({
                "artifact": result["artifact"],
                "backend": result["backend"],
                "variant": result.get("variant", "default"),
                "batch_size": config["batch_size"],
                "threads": config["threads"],
                "streams": config.get("streams"),
                "p50_ms": lat.get("p50"),
                "p90_ms": lat.get("p90"),
                "p99_ms": lat.get("p99"),
                "mean_ms": lat.get("mean"),
                "std_ms": lat.get("std"),
                "mad_ms": lat.get("mad"),
                "median_ci95_low_ms": ci[0],
                "median_ci95_high_ms": ci[1],
                "outliers": lat.get("outliers"),
                "n": lat.get("n"),
                "throughput_per_s": config.get("throughput_per_s"),
                "load_s": config.get("load_s"),
                "first_inference_ms": config.get("first_inference_ms"),
                "warmup_calls": (config.get("warmup") or {}).get("calls"),
                "skipped": config.get("skipped"),
                "host": host.get("hostname"),
                "cpu_model": host.get("cpu_model"),
                "sha256": result.get("sha256"),
                "device": result.get("device"),
            })
    return rows


def to_csv(report: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(config_rows(report))
    return buffer.getvalue()


def load_result_file(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(
            f"benchmark result {path} does not exist; write one with `edge-pipeline benchmark ... --out {path}`"
        )
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not JSON ({exc.msg}); pass a file written by `edge-pipeline benchmark --out`"
        ) from exc
    if not isinstance(report, dict) or report.get("kind") != RESULT_KIND:
        raise ConfigError(f"{path} is not an `edge-pipeline benchmark` result (kind must be '{RESULT_KIND}')")
    return report


def _key(row: dict, by_content: bool) -> tuple:
    # Content, else the file name (not the path: the same bundle unpacked in two places matches).
    identity = row["sha256"] if by_content else Path(row["artifact"]).name
    return (identity, row["backend"], row["variant"], row["batch_size"], row["threads"], row["streams"])


def _timed_rows(report: dict) -> list[dict]:
    return [r for r in config_rows(report) if r["p50_ms"] is not None]


def compare(baseline: dict, candidate: dict) -> dict:
    """Per matching configuration: both medians and candidate/baseline ratios (<1 means faster)."""
    base_list, cand_list = _timed_rows(baseline), _timed_rows(candidate)
    by_content = all(r["sha256"] for r in base_list + cand_list)
    base_rows = {_key(r, by_content): r for r in base_list}
    cand_rows = {_key(r, by_content): r for r in cand_list}
    matched = []
    for key in [k for k in base_rows if k in cand_rows]:
        a, b = base_rows[key], cand_rows[key]
        matched.append({
            "artifact": Path(a["artifact"]).name, "candidate_artifact": Path(b["artifact"]).name,
            "sha256": a["sha256"], "backend": key[1], "variant": key[2], "batch_size": key[3], "threads": key[4],
            "streams": key[5], "baseline_p50_ms": a["p50_ms"], "candidate_p50_ms": b["p50_ms"],
            "latency_ratio": b["p50_ms"] / a["p50_ms"], "speedup": a["p50_ms"] / b["p50_ms"],
            "ci_overlap": _overlap(a, b),
        })
    return {
        "matched": matched,
        "matched_by": "content (sha256)" if by_content else "file name (a file records no sha256)",
        "only_in_baseline": [_unmatched(base_rows[k]) for k in base_rows if k not in cand_rows],
        "only_in_candidate": [_unmatched(cand_rows[k]) for k in cand_rows if k not in base_rows],
        "hosts": [_machine(baseline), _machine(candidate)],
    }


def _machine(report: dict) -> str | None:
    """The CPU that timed a file, and the device's name when a `benchmark --device` run timed it."""
    cpu = report.get("host", {}).get("cpu_model")
    device = (report.get("device") or {}).get("name")
    return f"device {device}: {cpu}" if device else cpu


def _unmatched(row: dict) -> list:
    return [Path(row["artifact"]).name, row["backend"], row["variant"], row["batch_size"], row["threads"],
            row["streams"]]


def _overlap(a: dict, b: dict) -> bool:
    """Whether the medians' 95% CIs overlap: if they do, the difference may be noise. A row without
    one (a TensorRT bundle's, timed by its own script) cannot say."""
    if None in (a["median_ci95_low_ms"], a["median_ci95_high_ms"], b["median_ci95_low_ms"], b["median_ci95_high_ms"]):
        return False
    return a["median_ci95_low_ms"] <= b["median_ci95_high_ms"] and b["median_ci95_low_ms"] <= a["median_ci95_high_ms"]


def render_comparison(comparison: dict, names: tuple[str, str]) -> str:
    lines = [f"baseline A: {names[0]}  ({comparison['hosts'][0]})",
             f"candidate B: {names[1]}  ({comparison['hosts'][1]})",
             f"configurations matched by {comparison.get('matched_by', 'file name')}", ""]
    header = (f"{'artifact':<40} {'variant':<8} {'batch':>5} {'thr':>3} {'str':>3} "
              f"{'A p50 ms':>10} {'B p50 ms':>10} {'B/A':>7} {'A/B':>7}  note")
    lines += [header, "-" * len(header)]
    for row in comparison["matched"]:
        name = row["artifact"]
        if row.get("candidate_artifact", name) != name:  # matched by content under another name
            name = f"{name} = {row['candidate_artifact']}"
        lines.append(
            f"{name[:40]:<40} {row['variant'][:8]:<8} {row['batch_size']:>5} {row['threads']:>3} "
            f"{row['streams'] if row['streams'] is not None else '-':>3} {row['baseline_p50_ms']:>10.4f} "
            f"{row['candidate_p50_ms']:>10.4f} {row['latency_ratio']:>7.3f} {row['speedup']:>6.2f}x  "
            f"{'CIs overlap: may be noise' if row['ci_overlap'] else ''}"
        )
    if not comparison["matched"]:
        lines.append("(no configuration appears in both files: same artifact, variant, batch, threads, streams)")
    for label, keys in (("only in A", comparison["only_in_baseline"]), ("only in B", comparison["only_in_candidate"])):
        if keys:
            lines.append(f"{label}: {len(keys)} configuration(s), e.g. {keys[0]}")
    return "\n".join(lines)
