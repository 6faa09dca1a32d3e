"""Each target's recommended artifact in words: report.md's section and the facts report.html's
headline cards show (the choice itself is reports/recommend.py's)."""

from __future__ import annotations

from collections.abc import Mapping

from edge_pipeline.reports.recommend import SECTION

HEADING = "Recommended artifact per target"
EXPLANATION = ("The artifact each target should ship: the fastest of its FP32, INT8 and bf16 candidates that "
               "meets the fidelity floor (quantize.min_cosine), by p50 at batch 1 with the target's default "
               "threads, timed side by side in the same rounds. `compare` gates these rows.")


def recommended_entries(report: Mapping) -> list[tuple[str, Mapping]]:
    """(target, entry) per target, by name; none in a report that predates the section."""
    section = report.get(SECTION) or {}
    if not isinstance(section, Mapping):
        return []
    return [(str(target), entry) for target, entry in sorted(section.items()) if isinstance(entry, Mapping)]


def entry_title(entry: Mapping) -> str:
    """'student/x86-cpu-openvino/int8 [default]', or what stands in its place."""
    if entry.get("artifact_id"):
        return f"{entry['artifact_id']} [{entry.get('runtime_variant')}]"
    return "pending: device rows" if entry.get("status") == "pending" else "no recommended artifact"


def entry_facts(entry: Mapping) -> list[str]:
    """Its speedup over FP32, worst cosine and where it was timed, one short phrase each, then the reason."""
    facts = []
    if entry.get("speedup_vs_fp32") is not None:
        facts.append(f"{entry['speedup_vs_fp32']:.2f}× vs its FP32")
    if entry.get("worst_cosine") is not None:
        facts.append(f"worst cosine {entry['worst_cosine']:.4f}")
    if entry.get("timed_on"):
        where = "this host" if entry["timed_on"] == "host" else entry["timed_on"]
        threads = f", {entry['threads']} threads" if entry.get("threads") else ""
        facts.append(f"timed on {where} (batch {entry.get('batch_size')}{threads})")
    return facts + [str(entry.get("reason", ""))]


def render_recommended_markdown(report: Mapping) -> list[str]:
    entries = recommended_entries(report)
    if not entries:
        return []
    lines = [f"## {HEADING}", "", EXPLANATION, ""]
    lines += [f"- **{target}**: {entry_title(entry)}: " + "; ".join(entry_facts(entry)) for target, entry in entries]
    return lines + [""]
