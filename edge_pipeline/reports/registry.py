"""Writers that add files to a bundle beside report.json: ``writer(ctx, report, bundle_dir)``."""

from __future__ import annotations

from collections.abc import Callable

REPORT_WRITERS: list[Callable] = []


def register_report_writer(writer: Callable) -> Callable:
    REPORT_WRITERS.append(writer)
    return writer


# Built-in writers register themselves when imported; importing them here means every bundle gets them.
import edge_pipeline.reports.html.render  # noqa: E402,F401  (report.html)
