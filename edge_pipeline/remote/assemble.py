"""A device's events read back into the report `benchmark` writes locally, plus the device's record."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline import errors
from edge_pipeline.errors import DeviceError, EdgePipelineError, StageError
from edge_pipeline.remote.jobs import content_identity
from edge_pipeline.remote.session import Outcome
from edge_pipeline.remote.ssh import Link


def assemble(link: Link, probed: dict, events: list[dict], stopped: str | None, paths: list[Path],
             jobs: list[dict], settings: dict) -> Outcome:
    """The report `benchmark` writes locally, from the device's events: rounds pooled, skip reasons,
    failed files kept as skipped; plus the device's record. Unreached files are marked not timed."""
    from edge_pipeline.benchmarking.results import RESULT_KIND, RESULT_SCHEMA_VERSION
    from edge_pipeline.benchmarking.rounds import pool_rounds
    from edge_pipeline.standalone import check_something_timed, failed_file, with_skip_reasons

    measured: list[list[dict]] = [[] for _ in paths]
    received: dict[int, str | None] = {}
    pulled: dict[int, dict] = {}
    failures: dict[int, EdgePipelineError] = {}
    fingerprint = probed.get("fingerprint", {})
    for event in events:
        if event["event"] in ("start", "done"):
            fingerprint = event["fingerprint"]
        elif event["event"] == "measured":
            measured[event["index"]].append({key: v for key, v in event["result"].items() if key != "pull"})
            received[event["index"]] = event.get("received_utc")
        elif event["event"] == "pulled":
            pulled[event["index"]] = event
        elif event["event"] == "failed":
            failures[event["index"]] = _rebuilt(link, event["error"], event["index"], paths)
    results = []
    for index, (path, job) in enumerate(zip(paths, jobs, strict=True)):
        if measured[index]:
            entry = {**with_skip_reasons(pool_rounds(measured[index])), "measured_at": received[index]}
        else:
            entry = failed_file(job, failures.get(index) or DeviceError(f"not timed: {stopped}"))
        if index in pulled and "tensorrt_bundle" in entry:
            entry["tensorrt_bundle"] = {**entry["tensorrt_bundle"], **_pulled_files(pulled[index])}
        results.append({"artifact": str(path), "backend": job["backend"], "variant": job["variant"],
                        "sha256": content_identity(path), "device": link.name, **entry})
    report = {"schema_version": RESULT_SCHEMA_VERSION, "kind": RESULT_KIND, "host": fingerprint,
              "device": link.device.record(link.name), "settings": {**settings, "device": link.name},
              "results": results}
    error: EdgePipelineError | None = DeviceError(stopped) if stopped else None
    if stopped:
        report["partial"] = {"reason": stopped}
    error = error or next((e for e in failures.values() if isinstance(e, DeviceError)), None)
    if error is None:
        try:
            check_something_timed(results, [failures[i] for i in sorted(failures)])
        except EdgePipelineError as failed:
            error = failed
    return Outcome(link.name, report, error)


def _pulled_files(event: dict) -> dict:
    """Where a job's files came back to (temp paths, until kept), or why they did not."""
    return {"pull_error": event["error"]} if event.get("error") else {"pulled": event["files"]}


def _rebuilt(link: Link, error: dict, index: int, paths: list[Path]) -> EdgePipelineError:
    """A worker's failure on the device as the same error type, naming this host's file."""
    message = error["message"].replace(f"artifacts/{index}/{paths[index].name}", str(paths[index]))
    if "no space left on device" in message.lower():
        return DeviceError(f"{link.where()}: its disk filled up while timing {paths[index].name}; free space under "
                           f"{link.device.workdir} there or point workdir at a larger disk in {link.devices_file}")
    kind = getattr(errors, error["type"], None)
    kind = kind if isinstance(kind, type) and issubclass(kind, EdgePipelineError) else StageError
    return kind(f"device '{link.name}': {message}")
