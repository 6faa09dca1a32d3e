"""Device rows: timings taken on a board over ssh (`benchmark --device NAME --bundle B`, or the
recipe's ``benchmark.remote``), kept in report.json's ``device_results``, never in ``results``.

One row per (device, artifact, runtime variant, batch size, threads, streams). Each row carries what
makes it comparable and traceable on its own: the device's name and fingerprint as probed there
(CPU, clocks; on a Jetson the nvpmodel power mode and GPU/EMC clock locks), its runtime versions,
the artifact's sha256, and when the result reached the build host. A run that stopped early keeps
what it measured, each of those rows marked ``partial`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_pipeline.benchmarking.rows import LatencyStats
from edge_pipeline.reports.gates.errors import ReportInputError

DEVICE_RESULTS = "device_results"  # the report.json key


class DeviceRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(description="The devices.yaml name of the board that timed it.")
    artifact: str = Field(description="Artifact path inside the bundle.")
    artifact_id: str | None = Field(None, description="The bundle manifest's artifact id.")
    sha256: str = Field(description="Content of what was timed (a device bundle: its Q/DQ ONNX).")
    backend: str
    runtime_variant: str
    precision: str | None = None
    target: str | None = None
    batch_size: int
    threads: int | None = Field(None, description="None where the runtime has no thread count (TensorRT).")
    streams: int | None = None
    latency_ms: LatencyStats | None = Field(None, description="None: not timed (see skipped).")
    samples_ms: list[float] = Field(default_factory=list)
    round_p50_ms: list[float] = Field(default_factory=list, description="One median per fresh worker process.")
    throughput_per_s: float | None = None
    skipped: str | None = Field(None, description="Why this configuration was not timed.")
    partial: str | None = Field(None, description="Why the device's run stopped early; set on the rows it kept.")
    measured_at: str | None = Field(None, description="UTC time the result reached the build host.")
    fingerprint: dict = Field(default_factory=dict, description="The device's host fingerprint, as probed there.")
    runtime_versions: dict[str, str] = Field(default_factory=dict)
    trtexec_ms: float | None = Field(None, description="trtexec's median end-to-end latency of the same engine.")
    cuda_event_ms: dict[str, dict] = Field(default_factory=dict, description="TensorRT: h2d/compute/d2h summaries.")
    tensorrt: dict | None = Field(None, description="A device bundle's engine: name, compute capability, "
                                  "TensorRT version, build, trtexec, the files kept in the bundle.")


@dataclass(frozen=True)
class ArtifactIdentity:
    """What the bundle knows of a timed file: its place in the bundle and its manifest record."""

    path: str
    artifact_id: str | None = None
    precision: str | None = None
    target: str | None = None


def rows_from_result(report: dict, identities: dict[str, ArtifactIdentity]) -> list[DeviceRow]:
    """A device's `benchmark` result (remote.benchmark.assemble's) as device rows; ``identities``
    maps each result's ``artifact`` (as timed) to its identity in the bundle."""
    partial = (report.get("partial") or {}).get("reason")
    rows = []
    for result in report["results"]:
        identity = identities.get(result["artifact"], ArtifactIdentity(result["artifact"]))
        for config in result["configs"]:
            rows.append(_row(report, result, config, identity, partial))
    return rows


def _row(report: dict, result: dict, config: dict, identity: ArtifactIdentity, partial: str | None) -> DeviceRow:
    fingerprint = report.get("host") or {}
    versions = result.get("versions") or fingerprint.get("runtime_versions") or {}
    return DeviceRow(
        device=result["device"], artifact=identity.path, artifact_id=identity.artifact_id, sha256=result["sha256"],
        backend=result["backend"], runtime_variant=result.get("variant", "default"), precision=identity.precision,
        target=identity.target, batch_size=config["batch_size"], threads=config.get("threads"),
        streams=config.get("streams"), latency_ms=config.get("latency_ms"), samples_ms=config.get("samples_ms", []),
        round_p50_ms=[r["p50"] for r in config.get("rounds", [])], throughput_per_s=config.get("throughput_per_s"),
        skipped=config.get("skipped"), partial=partial, measured_at=result.get("measured_at"),
        fingerprint=fingerprint, runtime_versions={k: str(v) for k, v in versions.items() if v is not None},
        trtexec_ms=config.get("trtexec_ms"),
        cuda_event_ms={key[:-3]: config[key] for key in ("h2d_ms", "compute_ms", "d2h_ms") if key in config},
        tensorrt=result.get("tensorrt_bundle"),
    )


def report_device_rows(report: dict, source: str) -> list[DeviceRow]:
    """The typed device rows of a report (none in a report without them); ``source`` names it in errors."""
    found = report.get(DEVICE_RESULTS, [])
    if not isinstance(found, list):
        raise ReportInputError(f"{source}: '{DEVICE_RESULTS}' must be a list of device rows; pass a report.json "
                               "written by edge-pipeline")
    rows = []
    for index, row in enumerate(found):
        try:
            rows.append(DeviceRow.model_validate(row))
        except ValidationError as exc:
            raise ReportInputError(f"{source}: {DEVICE_RESULTS}[{index}] is not a valid device row "
                                   f"({exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}); pass a report.json "
                                   "written by edge-pipeline") from exc
    return rows


def merged(existing: list[DeviceRow], new: list[DeviceRow]) -> list[DeviceRow]:
    """The rows of the devices in ``new`` replace those devices' earlier rows; other devices' stay."""
    replaced = {row.device for row in new}
    return [row for row in existing if row.device not in replaced] + list(new)


def board_state(fingerprint: dict) -> str:
    """Power mode and clock locks as one cell: what moves a board's latency between two runs."""
    parts = []
    jetson = fingerprint.get("jetson") or {}
    mode = jetson.get("power_mode") or {}
    if mode:
        name = f" {mode['name']}" if mode.get("name") else ""
        parts.append(f"nvpmodel{name} (mode {mode.get('id')})")
    for key, label in (("gpu_clock", "GPU"), ("emc_clock", "EMC")):
        clock = jetson.get(key) or {}
        if clock.get("locked") is not None:
            parts.append(f"{label} clock {'locked' if clock['locked'] else 'unlocked'}")
    if fingerprint.get("clock_state"):
        parts.append(f"CPU clocks {fingerprint['clock_state']}")
    return ", ".join(parts)


def device_identity(row: DeviceRow) -> tuple[str, tuple[str, ...] | None, str | None] | None:
    """What decides whether two device rows' timings compare: the CPU model and flags, and a
    Jetson's board model. None: the row records no fingerprint."""
    host = row.fingerprint
    if not host.get("cpu_model"):
        return None
    flags = host.get("cpu_flags")
    board = (host.get("jetson") or {}).get("board_model")
    return str(host["cpu_model"]), (tuple(sorted(flags)) if isinstance(flags, list) else None), board
