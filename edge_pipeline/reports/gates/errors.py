"""Why `edge-pipeline compare` could not judge two runs; each reason has its own exit code.

A failed gate is not an error (the comparison worked and found a regression): it exits with
GATE_FAILED_EXIT_CODE. These errors mean the comparison itself is not meaningful.
"""

from __future__ import annotations

from edge_pipeline.errors import EdgePipelineError

GATE_FAILED_EXIT_CODE = 5


class ReportInputError(EdgePipelineError):
    """A report or bundle path does not exist or does not hold a readable report.json."""

    exit_code = 2


class ReportMismatchError(EdgePipelineError):
    """The two reports come from different recipes or models, so their numbers are not comparable."""

    exit_code = 6


class BaselineMissingArtifactError(EdgePipelineError):
    """The new run has an artifact/configuration the baseline lacks, so it cannot be gated."""

    exit_code = 7


class UnknownSchemaError(EdgePipelineError):
    """A report's schema_version is one this version of edge-pipeline cannot read."""

    exit_code = 8
