"""Writers that add files to a bundle beside report.json: ``writer(report, artifacts, bundle_dir)``,
where ``report`` is the report.json content, ``artifacts`` the run's Artifact records (paths as
during the run) and ``bundle_dir`` the folder being assembled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_pipeline.artifacts.record import Artifact

ReportWriter = Callable[[dict, list[Artifact], Path], None]

REPORT_WRITERS: list[ReportWriter] = []


def register_report_writer(writer: ReportWriter) -> ReportWriter:
    REPORT_WRITERS.append(writer)
    return writer


# Built-in writers register themselves when imported; importing them here means every bundle gets them.
import edge_pipeline.reports.html.render  # noqa: E402,F401  (report.html)
