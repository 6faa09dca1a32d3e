"""The recipe's targets a bundle lacks because their work failed: report.json's ``failed_targets``
({target, stage, error, error_class} each), shown near the top of report.md and report.html."""

from __future__ import annotations

HEADING = "Failed targets"
EXPLANATION = ("These targets failed; the bundle holds no artifact or row of them. The run went on with the "
               "others and exited with the partial-run code (11).")


def failed_targets(report: dict) -> list[dict]:
    """The report's failed targets; none in a report that predates the field."""
    found = report.get("failed_targets") or []
    return [f for f in found if isinstance(f, dict) and f.get("target")]


def failure_line(failure: dict) -> str:
    """One failure as a sentence: the target, where it failed, and its one-line error."""
    kind = f" ({failure['error_class']})" if failure.get("error_class") else ""
    return f"{failure['target']}: failed in {failure.get('stage', '?')}{kind}: {failure.get('error', '')}"


def render_failed_markdown(report: dict) -> list[str]:
    failures = failed_targets(report)
    if not failures:
        return []
    return [f"## {HEADING}", "", EXPLANATION, ""] + [f"- {failure_line(f)}" for f in failures] + [""]
