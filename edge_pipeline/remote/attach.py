"""Attach device rows to a bundle: report.json's ``device_results``, the "Device rows" section of
report.md and report.html, and a record per device in manifest.json; a Jetson's engine and its
timings under ``devices/<device>/<artifact id>/``. A target whose recommended artifact waited for
device rows (``pending``) gets it from them, in report.json and manifest.json alike.

The bundle is updated as a whole: a temp sibling holding hard links to its files (a copy where the
filesystem has none) gets the new files, then is swapped in for the bundle (artifacts/atomic.py),
so a reader never sees rows without their report or manifest. Rows of a device attached again
replace that device's rows and the files it brought; other devices' stay. Only a marked bundle is
touched, and nothing in it but the files named here.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from edge_pipeline.artifacts.atomic import atomic_directory, write_strict_json, write_text
from edge_pipeline.artifacts.hashing import sha256_file
from edge_pipeline.artifacts.outputs import is_marked, output_errors
from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.errors import OutputError
from edge_pipeline.remote.bundle_plan import BundleArtifact
from edge_pipeline.remote.devices import Device
from edge_pipeline.remote.session import Outcome
from edge_pipeline.reports.device_rows import (
    DEVICE_RESULTS,
    ArtifactIdentity,
    DeviceRow,
    merged,
    report_device_rows,
    rows_from_result,
)
from edge_pipeline.reports.recommend import SECTION as RECOMMENDED
from edge_pipeline.reports.recommend import manifest_view, with_device_rows
from edge_pipeline.reports.report_rows import validate_rows

DEVICES_FOLDER = "devices"
MANIFEST_KEY = "device_rows"


def attach(bundle: Path, outcomes: list[Outcome], plans: dict[str, list[BundleArtifact]],
           devices: dict[str, Device]) -> int:
    """Attach every device that measured something; return the number of rows attached."""
    measured = [outcome for outcome in outcomes if outcome.report is not None]
    if not measured:
        return 0
    bundle = bundle.resolve()
    report = json.loads((bundle / "report.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    with output_errors(bundle, "--bundle"), atomic_directory(bundle, before_swap=_still_ours(bundle)) as tmp:
        _link_tree(bundle, tmp)
        new_rows: list[DeviceRow] = []
        for outcome in measured:
            _forget_files(tmp, manifest, outcome.name)
            rows = _rows(outcome.name, outcome.report or {}, plans[outcome.name], tmp)
            new_rows += rows
            _record(manifest, outcome, devices[outcome.name], rows)
        report[DEVICE_RESULTS] = [r.model_dump(mode="json") for r in merged(_existing(report, bundle), new_rows)]
        _recommend_from_devices(report, manifest, bundle)
        _write_reports(tmp, report, manifest)
    return len(new_rows)


def _still_ours(bundle: Path):
    def check(_: Path) -> None:
        # Checked again just before the swap: the folder may have been replaced during a long run.
        if not is_marked(bundle):
            raise OutputError(f"--bundle {bundle} changed while the devices ran (it is no longer a marked bundle), "
                              "so nothing was attached; point --bundle at the bundle and run again")
    return check


def _link_tree(source: Path, target: Path) -> None:
    """The bundle's files as hard links: the new tree shares them, replaces none in place."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link, dirs_exist_ok=True)


def _existing(report: dict, bundle: Path) -> list[DeviceRow]:
    return report_device_rows(report, str(bundle / "report.json"))


def _forget_files(tmp: Path, manifest: dict, device: str) -> None:
    """The files this device's earlier attachment brought (listed in the manifest), nothing else."""
    for record in manifest.get(MANIFEST_KEY, []):
        if record.get("device") == device:
            for relative in record.get("files", []):
                (tmp / relative).unlink(missing_ok=True)


def _rows(device: str, report: dict, plan: list[BundleArtifact], tmp: Path) -> list[DeviceRow]:
    for index, result in enumerate(report["results"]):
        _keep_files(result, tmp / DEVICES_FOLDER / device / str(plan[index].record["id"]), tmp)
    identities = {str(a.path): ArtifactIdentity(a.relative, a.record.get("id"), a.record.get("precision"),
                                                a.record.get("target")) for a in plan}
    return rows_from_result(report, identities)


def _keep_files(result: dict, folder: Path, tmp: Path) -> None:
    """A device bundle's engine and timings, copied back, into the bundle; recorded bundle-relative."""
    built = result.get("tensorrt_bundle") or {}
    pulled = built.pop("pulled", [])
    if not pulled:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for source in map(Path, pulled):
        # Unlinked first: a name already there is a hard link into the bundle being replaced.
        (folder / source.name).unlink(missing_ok=True)
        shutil.copyfile(source, folder / source.name)
    built["files"] = [str((folder / Path(p).name).relative_to(tmp)) for p in pulled]


def _record(manifest: dict, outcome: Outcome, device: Device, rows: list[DeviceRow]) -> None:
    """Where the rows came from: the device's record (its key file's path, never the key) and fingerprint."""
    report = outcome.report or {}
    files = sorted({f for row in rows for f in ((row.tensorrt or {}).get("files") or [])})
    record = {**device.record(outcome.name), "device": outcome.name,
              "attached_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "fingerprint": report.get("host", {}), "rows": len(rows),
              "partial": (report.get("partial") or {}).get("reason"),
              "error": str(outcome.error) if outcome.error else None, "files": files}
    record.pop("name")
    others = [r for r in manifest.get(MANIFEST_KEY, []) if r.get("device") != outcome.name]
    manifest[MANIFEST_KEY] = [*others, record]


def _recommend_from_devices(report: dict, manifest: dict, bundle: Path) -> None:
    """Targets whose recommendation waited for device rows get it from the rows now attached."""
    section = report.get(RECOMMENDED)
    if not isinstance(section, dict) or not section:
        return
    source = str(bundle / "report.json")
    decided = with_device_rows(section, validate_rows(report.get("results", []), source),
                               _existing(report, bundle), manifest.get("artifacts", []))
    report[RECOMMENDED] = decided
    manifest[RECOMMENDED] = manifest_view(decided)


def _write_reports(tmp: Path, report: dict, manifest: dict) -> None:
    """report.json, report.md, the registered writers' files (report.html), then the manifest's
    hashes of them, as the package stage writes them."""
    from edge_pipeline.reports.markdown import render_markdown
    from edge_pipeline.reports.registry import REPORT_WRITERS

    records = manifest.get("artifacts", [])
    write_strict_json(tmp / "report.json", report)
    write_text(tmp / "report.md", render_markdown(report, records))
    artifacts = [Artifact.model_validate(record) for record in records]
    for writer in REPORT_WRITERS:
        writer(report, artifacts, tmp)
    manifest["files"] = {name: sha256_file(tmp / name) for name in manifest.get("files", {}) if (tmp / name).is_file()}
    write_strict_json(tmp / "manifest.json", manifest)
