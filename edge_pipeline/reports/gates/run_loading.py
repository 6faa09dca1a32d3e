"""Read a finished run for comparison: a bundle directory, or a report.json (with its manifest if beside it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.device_rows import DeviceRow, report_device_rows
from edge_pipeline.reports.gates.errors import ReportInputError, UnknownSchemaError
from edge_pipeline.reports.json_report import REPORT_SCHEMA_VERSION
from edge_pipeline.reports.report_rows import validate_rows

READABLE_SCHEMA_VERSIONS = frozenset({1})


@dataclass(frozen=True)
class LoadedRun:
    source: Path
    report: dict
    manifest: dict | None
    rows: list[BenchmarkRow]  # report["results"], validated
    device_rows: list[DeviceRow] = field(default_factory=list)  # report["device_results"]: timed on boards


def load_run(path: str | Path) -> LoadedRun:
    path = Path(path)
    report_path = path / "report.json" if path.is_dir() else path
    if not report_path.is_file():
        raise ReportInputError(f"{path}: no report found; pass a bundle directory or its report.json")
    report = _read_json(report_path)
    _check_schema(report, report_path)
    rows = _read_rows(report, report_path)
    manifest_path = report_path.with_name("manifest.json")
    manifest = _read_json(manifest_path) if manifest_path.is_file() else None
    return LoadedRun(source=report_path, report=report, manifest=manifest, rows=rows,
                     device_rows=report_device_rows(report, str(report_path)))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportInputError(
            f"{path}: not readable JSON ({exc.__class__.__name__}); pass a report.json written by edge-pipeline"
        ) from exc
    if not isinstance(data, dict):
        raise ReportInputError(
            f"{path}: the top level must be a JSON object; pass a report.json written by edge-pipeline"
        )
    return data


def _check_schema(report: dict, path: Path) -> None:
    kind = report.get("kind")
    if kind is not None:
        # Other edge-pipeline files (a bundle manifest, an `edge-pipeline benchmark` result) carry a kind.
        raise ReportInputError(
            f"{path}: this is a '{kind}' file, not a run report; pass the bundle directory or its report.json"
        )
    version = report.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(str(v) for v in sorted(READABLE_SCHEMA_VERSIONS))
        raise UnknownSchemaError(
            f"{path}: report schema_version {version!r} is unknown (this edge-pipeline reads {readable}, "
            f"writes {REPORT_SCHEMA_VERSION}); re-run the pipeline or use the edge-pipeline version that wrote it"
        )


def _read_rows(report: dict, path: Path) -> list[BenchmarkRow]:
    if not isinstance(report.get("recipe"), str) or not isinstance(report.get("results"), list):
        raise ReportInputError(f"{path}: missing 'recipe' or 'results'; pass a report.json written by edge-pipeline")
    return validate_rows(report["results"], str(path))
