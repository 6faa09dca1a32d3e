"""report.html's headline cards: per target, the artifact to ship, before anything else the page shows."""

from __future__ import annotations

from collections.abc import Mapping

from edge_pipeline.reports.html.svg_canvas import esc
from edge_pipeline.reports.recommended_view import EXPLANATION, HEADING, entry_facts, entry_title, recommended_entries


def recommended_cards(report: Mapping) -> str:
    entries = recommended_entries(report)
    if not entries:
        return ""
    cards = "".join(_card(target, entry) for target, entry in entries)
    return f'<h2>{esc(HEADING)}</h2><p class="sub">{esc(EXPLANATION)}</p><div class="glance">{cards}</div>'


def _card(target: str, entry: Mapping) -> str:
    style = "card" if entry.get("artifact_id") else "card card-none"
    facts = "<br>".join(esc(fact) for fact in entry_facts(entry))
    return (f'<div class="{style}" data-recommended="{esc(target)}"><div class="muted">{esc(target)}</div>'
            f"<b>{esc(entry_title(entry))}</b><br>{facts}</div>")
