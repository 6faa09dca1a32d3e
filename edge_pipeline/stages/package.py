"""Package stage: the release bundle — artifact files, manifest.json, report.json, report.md and the
registered report writers (report.html). Built in a temp folder and swapped in whole, so a failed
run never leaves a bundle that looks finished; the swap replaces only a folder this tool wrote (its
``.edge-pipeline-bundle`` marker, written last) or an empty one, and a full or read-only disk is an
OutputError naming the path (``artifacts/outputs.py``)."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from edge_pipeline.artifacts.atomic import write_strict_json, write_text
from edge_pipeline.artifacts.hashing import artifact_size, sha256_artifact, sha256_file, sha256_json
from edge_pipeline.artifacts.outputs import BUNDLE_MANIFEST_KIND, output_folder
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.backends.registry import artifact_sidecars
from edge_pipeline.benchmarking.host import fingerprint
from edge_pipeline.errors import ConfigError
from edge_pipeline.reports.json_report import build_report
from edge_pipeline.reports.markdown import render_markdown
from edge_pipeline.reports.recommend import SECTION as RECOMMENDED
from edge_pipeline.reports.recommend import manifest_view
from edge_pipeline.stages.base import StageOutput, StageRun, StepRecord
from edge_pipeline.stages.benchmark import recommend_policies

MANIFEST_SCHEMA_VERSION = 1


def run(view: StageRun) -> StageOutput:
    if view.out is None:
        raise ConfigError("the package stage needs an output folder; pass --out DIR")
    out = Path(view.out).resolve()
    with output_folder(out, "bundle") as tmp:
        placed = place_artifacts(list(view.artifacts), tmp)
        report = build_report(view.recipe.metadata.name, list(view.targets), list(view.rows), list(view.notes),
                              list(view.artifacts), placed, view.recipe.metric, view.tool_versions,
                              [failure.record() for failure in view.failed], recommend_policies(view))
        write_strict_json(tmp / "report.json", report)
        write_text(tmp / "report.md", render_markdown(report, [a.model_dump(mode="json") for a in view.artifacts]))
        for writer in _report_writers():
            writer(report, list(view.artifacts), tmp)
        write_strict_json(tmp / "manifest.json", build_manifest(view, placed, tmp, report))
    return StageOutput(bundle=out)


def _report_writers():
    from edge_pipeline.reports.registry import REPORT_WRITERS

    return REPORT_WRITERS


def place_artifacts(artifacts: list[Artifact], bundle: Path) -> dict[str, str]:
    """Copy each artifact (with its sidecar files) into the bundle once; return id -> bundle-relative path."""
    by_source: dict[Path, str] = {}
    placed: dict[str, str] = {}
    for artifact in artifacts:
        source = Path(artifact.path)
        if source not in by_source:
            relative = Path("artifacts") / artifact.id / source.name
            _copy(source, bundle / relative, artifact_sidecars(artifact.backend, artifact.kind, source))
            by_source[source] = str(relative)
        placed[artifact.id] = by_source[source]
    return placed


def _copy(source: Path, destination: Path, sidecars: list[Path]) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, destination)
        return
    shutil.copy2(source, destination)
    for sidecar in sidecars:
        shutil.copy2(sidecar, destination.with_name(sidecar.name))


def build_manifest(view: StageRun, placed: dict[str, str], bundle: Path, report: dict | None = None) -> dict:
    artifacts = []
    for artifact in view.artifacts:
        record = artifact.model_dump(mode="json")
        record["path"] = placed[artifact.id]
        record["sha256"], record["size_bytes"] = _bundled_digest(artifact, bundle / placed[artifact.id])
        artifacts.append(record)
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "kind": BUNDLE_MANIFEST_KIND,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": {
            "name": view.recipe.metadata.name,
            "sha256": sha256_json(view.recipe.model_dump(mode="json")),
            "snapshot": view.recipe.model_dump(mode="json"),
        },
        "targets": {name: t.model_dump(mode="json") for name, t in view.targets.items()},
        # The bundle holds no artifact of these: their work failed (report.json says the same).
        "failed_targets": [failure.record() for failure in view.failed],
        # Per target, the artifact to ship: the fastest that keeps fidelity (report.json's full record).
        "recommended": manifest_view((report or {}).get(RECOMMENDED, {})),
        "tool_versions": dict(view.tool_versions),
        "host": fingerprint(),
        "steps": [step.__dict__ for step in view.lineage],
        "stage_timings_s": stage_seconds(view.lineage),
        "notes": list(view.notes),
        "artifacts": artifacts,
        "files": {name: sha256_file(bundle / name) for name in sorted(_report_files(bundle))},
    }


def _bundled_digest(artifact: Artifact, copy: Path) -> tuple[str, int]:
    """The manifest describes the bundle's bytes: hash the copy, never trust the record's figures."""
    sidecars = artifact_sidecars(artifact.backend, artifact.kind, copy)
    return sha256_artifact(copy, sidecars), artifact_size(copy, sidecars)


def stage_seconds(lineage: tuple[StepRecord, ...]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for step in lineage:
        seconds[step.stage] = round(seconds.get(step.stage, 0.0) + step.seconds, 3)
    return seconds


def _report_files(bundle: Path) -> list[str]:
    return [p.name for p in bundle.iterdir() if p.is_file() and p.name != "manifest.json"]
