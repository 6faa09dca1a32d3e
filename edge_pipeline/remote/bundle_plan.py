"""Which of a bundle's artifacts each device times (`benchmark --device NAME --bundle B`), checked
against the bundle's manifest before anything is pushed.

Without artifacts named, a device times the bundle's artifacts of the targets it serves (its
``targets`` in devices.yaml), as the target runs them: an ONNX Runtime or OpenVINO file in its
runtime, a TensorRT target by its device bundle (its Q/DQ ONNX timed in ONNX Runtime would be a
stand-in's figure). Named artifacts must be the bundle's. Every chosen file must still hash to the
sha256 its manifest records: the rows are attached to that manifest's artifacts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_artifact
from edge_pipeline.artifacts.outputs import BUNDLE_MANIFEST_KIND, MARKER, is_marked
from edge_pipeline.calibration.layout import Layout
from edge_pipeline.errors import ConfigError, OutputError
from edge_pipeline.remote.devices import Device


@dataclass(frozen=True)
class BundleArtifact:
    path: Path  # absolute, inside the bundle
    record: dict  # its manifest entry

    @property
    def relative(self) -> str:
        return str(self.record["path"])


def read_bundle(bundle: Path) -> dict:
    """The manifest of a bundle this tool wrote (marked), the only kind of folder rows go into."""
    if not bundle.is_dir() or not is_marked(bundle):
        raise OutputError(f"--bundle {bundle} is not a bundle edge-pipeline wrote (no {MARKER} marker), so nothing "
                          "is attached to it; pass the folder `edge-pipeline run --out` wrote")
    try:
        manifest = json.loads((bundle / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--bundle {bundle} has no readable manifest.json ({exc.__class__.__name__}); pass the "
                          "folder `edge-pipeline run --out` wrote") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != BUNDLE_MANIFEST_KIND:
        raise ConfigError(f"--bundle {bundle}: manifest.json is not a run bundle's (kind {BUNDLE_MANIFEST_KIND}); "
                          "pass the folder `edge-pipeline run --out` wrote")
    return manifest


def bundle_layout(bundle: Path, manifest: dict) -> Layout:
    """The run's batch axes and state pairs, from the recipe snapshot in its manifest; a snapshot that
    names no batch axis other than 0 and no state (one written before batch axes existed): axis 0."""
    from pydantic import ValidationError

    from edge_pipeline.config.schema import Recipe
    from edge_pipeline.stages.data import recipe_layout

    snapshot = (manifest.get("recipe") or {}).get("snapshot") or {}
    specs = [*(snapshot.get("inputs") or []), *([snapshot["input"]] if snapshot.get("input") else [])]
    if not (snapshot.get("state") or snapshot.get("output_batch_axes")
            or any(spec.get("batch_axis", 0) != 0 for spec in specs)):
        return Layout()
    try:
        return recipe_layout(Recipe.model_validate(snapshot))
    except ValidationError as exc:
        raise ConfigError(f"--bundle {bundle}: the recipe in its manifest.json does not load in this version "
                          f"({exc.errors()[0]['msg']}), so its inputs' batch axes are unknown; re-run the recipe "
                          "to rebuild the bundle") from exc


def plan_devices(bundle: Path, manifest: dict, chosen: dict[str, Device], given: list[Path],
                 devices_file: Path) -> dict[str, list[BundleArtifact]]:
    """Per device, the bundle artifacts it times, each verified against its manifest sha256."""
    listed = _listed(bundle, manifest)
    plans = {name: (_named(bundle, listed, given, name, device, devices_file) if given
                    else _served(bundle, listed, name, device, devices_file))
             for name, device in chosen.items()}
    for artifact in {a.relative: a for plan in plans.values() for a in plan}.values():
        verify(bundle, artifact)
    return plans


def _listed(bundle: Path, manifest: dict) -> list[BundleArtifact]:
    """The manifest's artifact records; several may name one file (the exported ONNX is also each
    ONNX Runtime target's FP32 artifact)."""
    return [BundleArtifact(bundle / record["path"], record) for record in manifest.get("artifacts", [])]


def _once_per_file(artifacts: list[BundleArtifact]) -> list[BundleArtifact]:
    found: dict[str, BundleArtifact] = {}
    for artifact in artifacts:
        found.setdefault(artifact.relative, artifact)
    return list(found.values())


def _served(bundle: Path, listed: list[BundleArtifact], name: str, device: Device,
            devices_file: Path) -> list[BundleArtifact]:
    if not device.targets:
        raise ConfigError(f"device '{name}' lists no targets in {devices_file}, so which of the bundle's artifacts "
                          "it should time is not known; add targets: [...] to its entry or name the artifacts")
    chosen = _once_per_file([a for a in listed if a.record.get("target") in device.targets
                             and timed_on_device(a.record)])
    if not chosen:
        raise ConfigError(f"bundle {bundle} has no artifacts of target(s) {', '.join(device.targets)} that device "
                          f"'{name}' serves; run the pipeline with one of them or fix its targets in {devices_file}")
    return chosen


def timed_on_device(record: dict) -> bool:
    """Timed in the target's own runtime: not a stand-in's file (TensorRT's Q/DQ ONNX in ORT)."""
    from edge_pipeline.backends.registry import BACKENDS
    from edge_pipeline.backends.tensorrt.bundle import BUNDLE_KIND

    if record.get("kind") == BUNDLE_KIND:
        return True
    row = BACKENDS.get(record.get("backend") or "")
    found = row.format_of(record.get("kind", "")) if row else None
    return found is not None and found.timed and found.runtime_module is None


def _named(bundle: Path, listed: list[BundleArtifact], given: list[Path], name: str, device: Device,
           devices_file: Path) -> list[BundleArtifact]:
    chosen = []
    for path in given:
        matches = [a for a in listed if a.path.resolve() == path.resolve()]
        # A file several targets share is taken as the artifact of a target the device serves.
        artifact = next((a for a in matches if a.record.get("target") in device.targets), None)
        artifact = artifact or (matches[0] if matches else None)
        if artifact is None:
            raise ConfigError(f"{path} is not an artifact of bundle {bundle} (its manifest.json does not list it); "
                              "name files inside the bundle, or leave them out to time the targets the device serves")
        target = artifact.record.get("target")
        if device.targets and target is not None and target not in device.targets:
            raise ConfigError(f"{path} is built for target {target}, which device '{name}' does not serve "
                              f"({', '.join(device.targets)}); pick that target's artifacts or add the target "
                              f"to its targets in {devices_file}")
        chosen.append(artifact)
    return chosen


def verify(bundle: Path, artifact: BundleArtifact) -> None:
    """The file must be what the manifest describes: the rows are attached to that artifact."""
    from edge_pipeline.backends.registry import artifact_sidecars

    expected = artifact.record.get("sha256")
    if not artifact.path.exists():
        raise ConfigError(f"bundle {bundle}: {artifact.relative} is missing; restore it or run the pipeline again")
    sidecars = artifact_sidecars(artifact.record.get("backend"), artifact.record.get("kind", ""), artifact.path)
    if sha256_artifact(artifact.path, sidecars) != expected:
        raise ConfigError(f"bundle {bundle}: {artifact.relative} does not match the sha256 manifest.json records "
                          "(it changed after the bundle was written); restore it or run the pipeline again")
