"""The typed rows of a report: every reader of report.json (gates, the HTML and Markdown renderers)
turns its ``results`` into BenchmarkRow objects here, so a malformed row is one clear error, not a
KeyError deep inside a chart."""

from __future__ import annotations

from pydantic import ValidationError

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.gates.errors import ReportInputError

# Enough of pydantic's complaints to fix the row; the rest are usually the same mistake repeated.
MAX_PROBLEMS_SHOWN = 3


def validate_rows(results: object, source: str) -> list[BenchmarkRow]:
    """``results`` of a report.json as typed rows; ``source`` names the file in the error."""
    if not isinstance(results, list):
        raise ReportInputError(
            f"{source}: 'results' must be a list of benchmark rows; pass a report.json written by edge-pipeline"
        )
    return [validate_row(row, index, source) for index, row in enumerate(results)]


def validate_row(row: object, index: int, source: str) -> BenchmarkRow:
    try:
        return BenchmarkRow.model_validate(row)
    except ValidationError as exc:
        raise ReportInputError(
            f"{source}: results[{index}]{_row_name(row)} is not a valid benchmark row ({_problems(exc)}); "
            "pass a complete report.json written by edge-pipeline"
        ) from exc


def report_rows(report: dict) -> list[BenchmarkRow]:
    """Typed rows of a report dict in memory (what build_report returned, or a report.json read back)."""
    return validate_rows(report.get("results", []), f"report of recipe {report.get('recipe', '?')!r}")


def _row_name(row: object) -> str:
    artifact_id = row.get("artifact_id") if isinstance(row, dict) else None
    return f" ({artifact_id})" if isinstance(artifact_id, str) else ""


def _problems(exc: ValidationError) -> str:
    errors = exc.errors()
    shown = [f"{_location(error['loc'])}: {error['msg']}" for error in errors[:MAX_PROBLEMS_SHOWN]]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "the row"
