"""The ONNX Runtime Mobile part of the report: per mobile target, the .ort models and the
reduced-build operator config with their sizes, and the execution providers the model can use."""

from __future__ import annotations

import json
from pathlib import Path

from edge_pipeline.artifacts.record import Artifact

_MOBILE_KINDS = ("ort", "ort-required-operators", "ort-ep-usability")


def mobile_section(artifacts: list[Artifact], placed: dict[str, str]) -> list[dict]:
    """One entry per (model, target) that has ORT Mobile artifacts; empty when none do."""
    groups: dict[tuple, dict] = {}
    for artifact in artifacts:
        if artifact.kind not in _MOBILE_KINDS:
            continue
        group = groups.setdefault((artifact.model, artifact.target), {
            "model": artifact.model, "target": artifact.target, "files": [], "execution_providers": None,
        })
        group["files"].append({
            "artifact_id": artifact.id,
            "kind": artifact.kind,
            "path": placed.get(artifact.id, str(artifact.path)),
            "size_bytes": artifact.size_bytes,
            "optimization_style": artifact.meta.get("optimization_style"),
        })
        if artifact.kind == "ort-ep-usability":
            group["usable_execution_providers"] = artifact.meta.get("usable_execution_providers", [])
            group["styles_not_shipped"] = artifact.meta.get("styles_not_shipped") or {}
            group["execution_providers"] = _ep_table(artifact.path)
    return list(groups.values())


def _ep_table(summary_path: Path) -> dict | None:
    try:
        summary = json.loads(Path(summary_path).read_text())
    except (OSError, ValueError):
        return None
    return summary.get("execution_providers")


def render_mobile_markdown(section: list[dict]) -> list[str]:
    lines: list[str] = []
    for group in section:
        lines += ["", f"## ONNX Runtime Mobile: {group['model']} on {group['target']}", "",
                  "| file | kind | optimizations | size KiB |", "|---|---|---|---|"]
        for item in group["files"]:
            lines.append(f"| {item['path']} | {item['kind']} | {item['optimization_style'] or '–'} "
                         f"| {item['size_bytes'] / 1024:.1f} |")
        usable = group.get("usable_execution_providers")
        if usable is not None:
            lines += ["", f"Execution providers that can take this model: {', '.join(usable) or 'none (CPU EP only)'}.",
                      ""]
        for style, reason in (group.get("styles_not_shipped") or {}).items():
            lines += [f"- The '{style}' ORT-format model was not shipped: it does not load in this ONNX Runtime "
                      f"({reason}).", ""]
        lines += _ep_lines(group.get("execution_providers") or {})
    return lines


def _ep_lines(providers: dict) -> list[str]:
    if not providers:
        return []
    lines = ["| EP | verdict | nodes on EP | partitions | unsupported ops | with fixed shapes |",
             "|---|---|---|---|---|---|"]
    for name, verdict in providers.items():
        fixed = verdict.get("if_shapes_fixed")
        lines.append(
            f"| {name} | {verdict['suitability']} | {verdict['supported_nodes']}/{verdict['nodes']} "
            f"| {verdict['partitions']} | {', '.join(verdict['unsupported_ops']) or '–'} "
            f"| {fixed['suitability'] if fixed else '–'} |"
        )
    return lines
