"""JUnit XML for CI test tabs: one test case per gate, the gate's message as the failure text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edge_pipeline.reports.gates.compare import Comparison
from edge_pipeline.reports.gates.thresholds import FAIL, SKIPPED


def render_junit(comparison: Comparison) -> str:
    failures, skipped = comparison.count(FAIL), comparison.count(SKIPPED)
    counts = {"tests": str(len(comparison.results)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ET.Element("testsuites", {"name": "edge-pipeline release gates", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"gates.{comparison.recipe}", **counts})
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(comparison):
        ET.SubElement(properties, "property", name=name, value=value)
    for result in comparison.results:
        case = ET.SubElement(suite, "testcase", classname=f"gates.{result.gate}", name=result.subject, time="0")
        if result.status == FAIL:
            ET.SubElement(case, "failure", message=result.message, type=f"{result.gate}-gate").text = result.message
        elif result.status == SKIPPED:
            ET.SubElement(case, "skipped", message=result.message)
        else:
            ET.SubElement(case, "system-out").text = f"{result.status}: {result.message}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _properties(comparison: Comparison) -> list[tuple[str, str]]:
    limits = comparison.thresholds
    props = [
        ("baseline", str(comparison.baseline)),
        ("new", str(comparison.new)),
        ("max_latency_regression_pct", f"{limits.max_latency_regression_pct:g}"),
        ("max_accuracy_drop_pp", f"{limits.max_accuracy_drop_pp:g}"),
        ("max_accuracy_drift_pp", f"{limits.max_accuracy_drift_pp:g}"),
        ("latency_across_cpus", str(limits.latency_across_cpus).lower()),
        ("max_size_growth_pct", f"{limits.max_size_growth_pct:g}"),
    ]
    return props + [(f"note.{i}", note) for i, note in enumerate(comparison.notes)]
