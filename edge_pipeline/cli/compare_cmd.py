"""Gate a new run against a baseline run: latency, accuracy and size per matching artifact.

BASELINE and NEW are bundle directories or report.json files. Latency is compared on the p50 with a
bootstrap interval from the repeated timings, so a change inside the measurement noise passes (and
is reported as such), and only when both runs were timed on the same CPU (model and flags).
Accuracy is gated against each run's own FP32 reference (--max-accuracy-drop) and, loosely,
absolutely (--max-accuracy-drift): a model retrained on another CPU has other weights. Device rows
(`benchmark --device NAME --bundle`) are gated on latency against the baseline's rows of the same
device and artifact content, never against host rows.
A target the new run failed (report.json's failed_targets), or of which it has no row where the
baseline had some, fails a "target" gate.
Exit codes: 0 all gates passed, 5 a gate failed, 6 the runs come from different recipes or models,
7 the baseline lacks an artifact/configuration of the new run (--only-baseline-targets gates a
multi-target bundle against a one-target baseline), 8 a report's schema version is unknown, 2 a
path holds no readable report.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from edge_pipeline.cli.output import print_result

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|pp)?\s*$")


def percent(text: str) -> float:
    """'5%' or '5' -> 5.0 (always percent)."""
    match = _NUMBER.match(text)
    if not match or match.group(2) == "pp":
        raise argparse.ArgumentTypeError(f"'{text}' is not a percentage; write e.g. 5% (or 5)")
    return float(match.group(1))


def points(text: str) -> float:
    """'0.5', '0.5pp' or '0.5%' -> 0.5 percentage points of top-1 accuracy."""
    match = _NUMBER.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not an accuracy drop; write percentage points, e.g. 0.5")
    return float(match.group(1))


def metric_limit(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    match = _NUMBER.match(value)
    if not sep or not name or not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=DROP; write e.g. recall=0.01")
    return name, float(match.group(1))


def add_arguments(parser) -> None:
    parser.add_argument("baseline", type=Path, help="baseline bundle directory or report.json")
    parser.add_argument("new", type=Path, help="new bundle directory or report.json")
    parser.add_argument("--max-latency-regression", type=percent, default=5.0, metavar="PCT",
                        help="largest allowed p50 latency increase (default: 5%%)")
    parser.add_argument("--max-accuracy-drop", type=points, default=0.5, metavar="PP",
                        help="largest allowed fall, in percentage points, of an artifact's top-1 accuracy relative "
                             "to its FP32 reference in the same run, against the baseline's (default: 0.5)")
    parser.add_argument("--max-accuracy-drift", type=points, default=2.0, metavar="PP",
                        help="largest allowed fall of absolute top-1 accuracy in percentage points (default: 2; "
                             "retraining the default on another CPU moved it by up to 1.1)")
    parser.add_argument("--max-size-growth", type=percent, default=10.0, metavar="PCT",
                        help="largest allowed artifact size increase (default: 10%%)")
    parser.add_argument("--max-metric-drop", type=metric_limit, action="append", default=[], metavar="NAME=DROP",
                        help="largest allowed worsening of a figure of the recipe's task metric, e.g. recall=0.01 "
                             "(repeatable; figures without one are reported, not gated)")
    parser.add_argument("--latency-basis", choices=["absolute", "vs-teacher"], default="absolute",
                        help="gate absolute p50 (default), or p50 relative to each run's own FP32 teacher, "
                             "which cancels a uniformly faster or slower machine (a baseline from other hardware)")
    parser.add_argument("--latency-across-cpus", action="store_true",
                        help="gate latency even when the runs were timed on different CPUs (by default those "
                             "latency gates are skipped as not comparable)")
    parser.add_argument("--force-comparable", action="store_true",
                        help="gate latency even against a baseline from another edge-pipeline release series, "
                             "runtime version or report schema (by default those latency gates are skipped as "
                             "not comparable, naming the versions)")
    parser.add_argument("--only-baseline-targets", action="store_true",
                        help="gate only the new run's rows of targets the baseline has, e.g. a multi-target bundle "
                             "against baselines/<target> (the others are noted, not gated)")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here (one test case per gate)")
    parser.add_argument("--markdown", type=Path, help="write a Markdown summary here (e.g. for a CI job summary)")


def execute(args) -> int:
    from edge_pipeline import api
    from edge_pipeline.artifacts.atomic import write_text
    from edge_pipeline.reports.gates.errors import GATE_FAILED_EXIT_CODE
    from edge_pipeline.reports.gates.junit import render_junit
    from edge_pipeline.reports.gates.summary import render_gate_markdown
    from edge_pipeline.reports.gates.thresholds import FAIL, NOISE, GateThresholds

    thresholds = GateThresholds(max_latency_regression_pct=args.max_latency_regression,
                                max_accuracy_drop_pp=args.max_accuracy_drop,
                                max_accuracy_drift_pp=args.max_accuracy_drift,
                                latency_across_cpus=args.latency_across_cpus,
                                force_comparable=args.force_comparable,
                                baseline_targets_only=args.only_baseline_targets,
                                max_size_growth_pct=args.max_size_growth,
                                max_metric_drop=dict(args.max_metric_drop),
                                latency_basis=args.latency_basis)
    comparison = api.compare(args.baseline, args.new, thresholds)
    if args.junit:
        write_text(args.junit, render_junit(comparison))
    if args.markdown:
        write_text(args.markdown, render_gate_markdown(comparison))
    for gate in comparison.results:
        if gate.status in (FAIL, NOISE):
            print_result(f"{gate.status.upper():<12} {gate.gate:<8} {gate.subject}: {gate.message}")
    for note in comparison.notes:
        print(f"note: {note}", file=sys.stderr)
    device_line = comparison.device_line()
    if device_line:
        print_result(device_line)
    print_result(comparison.headline())
    return 0 if comparison.passed else GATE_FAILED_EXIT_CODE
