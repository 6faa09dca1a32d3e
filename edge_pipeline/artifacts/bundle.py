"""Assemble the release bundle: artifact files, manifest.json, report.json and report.md.

The bundle is built in a temp folder and swapped in whole, so a failed run never leaves a
bundle that looks finished.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from edge_pipeline.artifacts.atomic import atomic_directory, write_json, write_text
from edge_pipeline.artifacts.hashing import sha256_file, sha256_json
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.benchmarking.host import fingerprint
from edge_pipeline.reports.json_report import build_report
from edge_pipeline.reports.markdown import render_markdown
from edge_pipeline.stages.context import RunContext

MANIFEST_SCHEMA_VERSION = 1


def write_bundle(ctx: RunContext, out: Path) -> Path:
    out = Path(out).resolve()
    with atomic_directory(out) as tmp:
        placed = place_artifacts(ctx.artifacts, tmp)
        report = build_report(ctx, placed)
        write_json(tmp / "report.json", report)
        write_text(tmp / "report.md", render_markdown(report))
        for extra in _extra_writers():
            extra(ctx, report, tmp)
        manifest = build_manifest(ctx, placed, tmp)
        write_json(tmp / "manifest.json", manifest)
    return out


def _extra_writers():
    """Further report writers (HTML, CI summaries) register here."""
    from edge_pipeline.reports.registry import REPORT_WRITERS

    return REPORT_WRITERS


def place_artifacts(artifacts: list[Artifact], bundle: Path) -> dict[str, str]:
    """Copy each artifact file into the bundle once; return artifact id -> bundle-relative path."""
    by_source: dict[Path, str] = {}
    placed: dict[str, str] = {}
    for artifact in artifacts:
        source = Path(artifact.path)
        if source not in by_source:
            relative = Path("artifacts") / artifact.id / source.name
            _copy(source, bundle / relative)
            by_source[source] = str(relative)
        placed[artifact.id] = by_source[source]
    return placed


def _copy(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination)
        return
    shutil.copy2(source, destination)
    for sibling in _companions(source):
        shutil.copy2(sibling, destination.with_name(sibling.name))


def _companions(source: Path) -> list[Path]:
    """Files that belong with an artifact: an IR's .bin, an ONNX's external data."""
    candidates = [source.with_suffix(".bin")] if source.suffix == ".xml" else [Path(str(source) + ".data")]
    return [c for c in candidates if c.is_file()]


def build_manifest(ctx: RunContext, placed: dict[str, str], bundle: Path) -> dict:
    artifacts = []
    for artifact in ctx.artifacts:
        record = artifact.model_dump(mode="json")
        record["path"] = placed[artifact.id]
        artifacts.append(record)
    stage_seconds: dict[str, float] = {}
    for step in ctx.steps:
        stage_seconds[step.stage] = round(stage_seconds.get(step.stage, 0.0) + step.seconds, 3)
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "kind": "edge_pipeline.bundle",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": {
            "name": ctx.recipe.metadata.name,
            "sha256": sha256_json(ctx.recipe.model_dump(mode="json")),
            "snapshot": ctx.recipe.model_dump(mode="json"),
        },
        "targets": {name: t.model_dump(mode="json") for name, t in ctx.targets.items()},
        "tool_versions": ctx.tool_versions,
        "host": fingerprint(),
        "steps": [step.__dict__ for step in ctx.steps],
        "stage_timings_s": stage_seconds,
        "notes": ctx.notes,
        "artifacts": artifacts,
        "files": {name: sha256_file(bundle / name) for name in sorted(_report_files(bundle))},
    }


def _report_files(bundle: Path) -> list[str]:
    return [p.name for p in bundle.iterdir() if p.is_file() and p.name != "manifest.json"]
