"""A finished run's bundle, written in milliseconds: marker, manifest (real artifact files and their
sha256), report.json with host rows (tests/reports/report_factory.py), report.md and report.html.
Device rows are attached to these by the remote tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_artifact
from edge_pipeline.artifacts.outputs import write_marker
from edge_pipeline.reports.html.render import render_html
from edge_pipeline.reports.markdown import render_markdown
from tests.reports.report_factory import default_rows, make_manifest, make_report

ORT = "x86-cpu-onnxruntime"
REPORT_FILES = ("report.json", "report.md", "report.html")


def record(artifact_id: str, kind: str, backend: str, target: str, precision: str, path: str, sha256: str) -> dict:
    return {"id": artifact_id, "kind": kind, "path": path, "stage": "quantize", "parent": None,
            "model": artifact_id.split("/")[0], "precision": precision, "backend": backend, "target": target,
            "sha256": sha256, "size_bytes": 1, "config": {}, "meta": {}}


def write_bundle(folder: Path, artifacts: dict[str, Path], kind: str = "onnx", backend: str = "onnxruntime",
                 target: str = ORT) -> Path:
    """``artifacts``: artifact id (model/target/precision) -> a file or folder, copied into the bundle."""
    records = []
    for artifact_id, source in artifacts.items():
        relative = f"artifacts/{artifact_id}/{source.name}"
        placed = folder / relative
        placed.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, placed)
        records.append(record(artifact_id, kind, backend, target, artifact_id.rsplit("/", 1)[-1], relative,
                              sha256_artifact(placed)))
    report = make_report(default_rows())
    manifest = {**make_manifest(), "artifacts": records}
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "report.md").write_text(render_markdown(report, records))
    (folder / "report.html").write_text(render_html(report, records))
    manifest["files"] = {name: sha256_artifact(folder / name) for name in REPORT_FILES}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    write_marker(folder, "bundle")
    return folder


def read(bundle: Path, name: str) -> dict:
    return json.loads((bundle / name).read_text())
