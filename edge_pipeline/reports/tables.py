"""Tables shared by report.md and report.html: one column definition per table, so both files show
the same columns with the same figures (the HTML adds only a numeric sort key per cell)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.device_rows import DeviceRow, board_state
from edge_pipeline.reports.row_status import artifact_tail, headline_cell, row_warnings

MISSING = "–"
RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Column(Generic[RowT]):
    """A header, how to get a row's value, and how to write it; a None value is written as MISSING."""

    header: str
    value: Callable[[RowT], object]
    fmt: str = "{}"
    title: str = ""  # the header's tooltip in the HTML: what the figure means

    def text(self, row: RowT) -> str:
        value = self.value(row)
        return MISSING if value is None or value == "" else self.fmt.format(value)

    def sort_key(self, row: RowT) -> object:
        value = self.value(row)
        return "" if value is None else value


def _runtime(row: BenchmarkRow) -> str:
    # The suffix keeps the timing scope beside the runtime it qualifies, in both files.
    scope = " (host)" if row.measured_on == "host" else ""
    return f"{row.backend}:{row.runtime_variant}{scope}" + (" (simulated)" if row.simulated else "")


def _none_if_zero(value: float) -> float | None:
    return value or None


RESULT_COLUMNS: list[Column[BenchmarkRow]] = [
    Column("target", lambda r: r.target),
    Column("model", lambda r: r.model),
    Column("artifact", artifact_tail, title="precision plus format, e.g. int8-ort-fixed"),
    Column("runtime", _runtime, title="backend:runtime mode; (host) timed on this host, not the device"),
    Column("headline", headline_cell, title="whether the row may headline: real timings on the target's ISA"),
    Column("batch", lambda r: r.batch_size),
    Column("threads", lambda r: r.threads),
    Column("rounds", lambda r: len(r.round_p50_ms) or 1, title="fresh worker processes pooled"),
    Column("p50 ms", lambda r: r.latency_ms.p50, "{:.3f}"),
    Column("p90 ms", lambda r: r.latency_ms.p90, "{:.3f}"),
    Column("p99 ms", lambda r: r.latency_ms.p99, "{:.3f}"),
    Column("throughput/s", lambda r: r.throughput_per_s, "{:.0f}"),
    Column("speedup vs FP32 teacher", lambda r: r.speedup_vs_baseline, "{:.2f}×"),
    Column("accuracy %", lambda r: r.accuracy, "{:.2f}"),
    Column("Δacc pp", lambda r: r.accuracy_delta_vs_baseline, "{:+.2f}"),
    Column("top-1 agree %", lambda r: r.top1_agreement, "{:.2f}"),
    Column("size KiB", lambda r: _none_if_zero(r.size_bytes / 1024), "{:.0f}"),
    Column("size vs FP32 teacher", lambda r: r.size_ratio_vs_baseline, "{:.2f}×"),
    Column("MACs M", lambda r: r.macs and r.macs / 1e6, "{:.1f}"),
    Column("params M", lambda r: r.params and r.params / 1e6, "{:.3f}"),
    Column("peak MiB", lambda r: _none_if_zero(r.peak_memory_bytes / 2**20), "{:.1f}"),
    Column("warnings", lambda r: "; ".join(row_warnings(r)), title="what may make this row's timing unreliable"),
]


def runtime_clock_note(rows: list[BenchmarkRow]) -> str:
    """The line under the results table naming the rows timed by the runtime's own clock ("" when none
    are): their figures leave out the Python call that our clock, every other row's, includes."""
    backends = sorted({row.backend for row in rows if row.latency_clock == "runtime"})
    if not backends:
        return ""
    return (f"{', '.join(backends)} rows: p50/p90/p99 by the runtime's own timer of each call (what its own "
            "benchmark tool reports); our clock around the call: call_clock_p50_ms in report.json.")


def _device_latency(row: DeviceRow, field: str) -> float | None:
    return None if row.latency_ms is None else getattr(row.latency_ms, field)


def _device_status(row: DeviceRow) -> str:
    return "; ".join(text for text in (row.skipped and f"not timed: {row.skipped}",
                                       row.partial and f"partial: {row.partial}") if text)


DEVICE_COLUMNS: list[Column[DeviceRow]] = [
    Column("device", lambda r: r.device, title="the devices.yaml name of the board"),
    Column("target", lambda r: r.target),
    Column("artifact", lambda r: r.artifact_id or r.artifact),
    Column("runtime", lambda r: f"{r.backend}:{r.runtime_variant}"),
    Column("batch", lambda r: r.batch_size),
    Column("threads", lambda r: r.threads),
    Column("rounds", lambda r: len(r.round_p50_ms) or (1 if r.latency_ms else None), title="fresh processes pooled"),
    Column("p50 ms", lambda r: _device_latency(r, "p50"), "{:.3f}"),
    Column("p90 ms", lambda r: _device_latency(r, "p90"), "{:.3f}"),
    Column("p99 ms", lambda r: _device_latency(r, "p99"), "{:.3f}"),
    Column("throughput/s", lambda r: r.throughput_per_s, "{:.0f}"),
    Column("trtexec median ms", lambda r: r.trtexec_ms, "{:.3f}", title="NVIDIA trtexec timing the same engine"),
    Column("board", lambda r: f"{r.fingerprint.get('hostname', '?')} ({r.fingerprint.get('cpu_model', '?')})"),
    Column("power and clocks", lambda r: board_state(r.fingerprint), title="nvpmodel mode and clock locks"),
    Column("runtime versions", lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r.runtime_versions.items()))),
    Column("measured (UTC)", lambda r: r.measured_at, title="when the result reached the build host"),
    Column("status", _device_status, title="configurations not timed, runs that stopped early"),
]


def device_order(row: DeviceRow) -> tuple:
    return (row.device, row.target or "", row.artifact, row.runtime_variant, row.batch_size, row.threads or 0,
            row.streams or 0)


def device_cells(rows: list[DeviceRow]) -> list[list[str]]:
    return [[column.text(row) for column in DEVICE_COLUMNS] for row in sorted(rows, key=device_order)]


def table_order(row: BenchmarkRow) -> tuple:
    """Per target and configuration, slowest first, so the fastest artifact ends each block."""
    return (row.target, row.batch_size, row.threads, -row.latency_ms.p50)


def result_cells(rows: list[BenchmarkRow]) -> list[list[str]]:
    return [[column.text(row) for column in RESULT_COLUMNS] for row in sorted(rows, key=table_order)]


def markdown_cell(text: str) -> str:
    # A '|' inside a cell would split it; newlines would end the table row.
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(markdown_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
            + ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows])
