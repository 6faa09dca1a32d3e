"""What runs on the device, inside the benchmarker zipapp: ``python bench.pyz probe|run``.

Needs only Python 3.10+, numpy and the runtime (this module imports nothing else at start, so a
missing numpy is reported, not a traceback). Every line meant for the host starts with ``MARK`` on
stdout and holds one JSON object; stderr is for people. ``run`` streams each worker's result as it
finishes, so a connection lost mid-run still leaves the host everything finished before it.

The run folder (the cwd, made by the host under the configured workdir) is the only place written:
temp files included. It is removed when the run ends, when the host goes away (stdin reaches EOF)
or when the deadline passes, with the worker killed first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

MARK = "@@edge-pipeline"
RUN_PREFIX = "ep-run-"  # the host names every run folder so; nothing else is ever removed
EXIT_ABORTED = 75  # the host went away or the deadline passed
_aborting = threading.Event()  # set before the worker is killed: its death is no result to report
# After the run, files the host copies back (a Jetson engine) keep the folder until the host closes
# the connection: then its EOF is a release, not an abort.
_holding, _released = threading.Event(), threading.Event()


def emit(event: dict) -> None:
    _halt_if_aborting()
    sys.stdout.write(f"{MARK} {json.dumps(event)}\n")
    sys.stdout.flush()


def _halt_if_aborting() -> None:
    """The main thread stops here while an abort kills the worker and removes the folder: neither a
    next worker nor an interpreter shutdown may race it."""
    if _aborting.is_set():
        threading.Event().wait()


def probe(runtimes: list[str]) -> int:
    """Python, numpy and each runtime's version (or why it does not import), free disk, and the
    CPU fingerprint once numpy is there (the fingerprint's module is numpy-free, the package's is not)."""
    found = {"python": sys.version.split()[0], "executable": sys.executable,
             "free_bytes": shutil.disk_usage(".").free, "modules": {}}
    for module in ["numpy", *runtimes]:
        found["modules"][module] = _import_state(module)
    if found["modules"]["numpy"]["ok"]:
        from edge_pipeline.benchmarking.host import fingerprint

        found["fingerprint"] = fingerprint()
    emit(found)
    return 0


def _import_state(module: str) -> dict:
    try:
        # Through the registry: the packages of the backends that run it set the runtime up first.
        from edge_pipeline.backends.registry import import_runtime

        imported = import_runtime(module)
    except Exception as exc:  # noqa: BLE001 - a broken install is as missing as an absent one
        return {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}
    return {"ok": True, "version": str(getattr(imported, "__version__", "unknown"))}


def run(plan_path: Path) -> int:
    """Time every job once per round, files in turn (as `benchmark` does locally), each in a fresh
    worker process; stream each result or failure to the host."""
    plan = json.loads(plan_path.read_text())
    folder = Path.cwd()
    _guard(folder, float(plan["deadline_s"]))
    from edge_pipeline.benchmarking.harness import run_checked_worker
    from edge_pipeline.benchmarking.host import fingerprint
    from edge_pipeline.errors import EdgePipelineError

    emit({"event": "start", "fingerprint": fingerprint()})
    jobs = [_absolute(job, folder) for job in plan["jobs"]]
    failed: set[int] = set()
    offered = False  # files for the host to copy back (a Jetson engine)
    for round_index in range(int(plan["rounds"])):
        for index, job in enumerate(jobs):
            if index in failed:  # failed once: not retried, the other files go on
                continue
            job = job if round_index == 0 else {**job, "profile": None}  # one profile, from the first round
            if job.get("bundle") and round_index > 0:
                continue  # the bundle's script times once: its plan sets the counts
            try:
                result = (run_bundle(job) if job.get("bundle")
                          else run_checked_worker(job, folder / "jobs" / f"{round_index}-{index}"))
            except EdgePipelineError as error:
                _halt_if_aborting()  # killed by an abort: no failure of the file's
                failed.add(index)
                emit({"event": "failed", "round": round_index, "index": index,
                      "error": {"type": type(error).__name__, "message": str(error).replace(f"{folder}/", "")}})
                continue
            offered = offered or bool(result.get("pull"))
            emit({"event": "measured", "round": round_index, "index": index, "result": result})
    emit({"event": "done", "fingerprint": fingerprint()})
    if plan.get("pull") and offered:
        hold()
    return 0


def hold() -> None:
    """Keep the run folder until the host, told so, has copied back what it wants (it closes the
    connection then); the deadline still applies."""
    _holding.set()
    emit({"event": "hold"})
    _released.wait()


def run_bundle(job: dict) -> dict:
    """A TensorRT device bundle: its own script builds the engine for this GPU and TensorRT from the
    Q/DQ ONNX (engines are not portable) and times it; its JSON becomes a worker-like result."""
    import subprocess

    from edge_pipeline import errors

    folder = Path(job["artifact"])
    for stale in folder.glob("benchmark.sm*.json"):  # the run's copy: only this run's results may be read back
        stale.unlink()
    command = [sys.executable, str(folder / job["bundle"]), "--bundle-dir", str(folder),
               "--batch-sizes", *map(str, job["batch_sizes"])]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()] or [f"exit code {proc.returncode}"]
        kind = {3: errors.BackendUnavailableError, 2: errors.ConfigError}.get(proc.returncode, errors.StageError)
        raise kind(f"{job['bundle']} in {folder.name} failed: {lines[-1]}")
    written = max(folder.glob("benchmark.sm*.json"), key=lambda p: p.stat().st_mtime)
    report = json.loads(written.read_text())
    configs = [{"batch_size": row["batch_size"], "threads": None, "streams": None, "latency_ms": row["latency_ms"],
                "throughput_per_s": row["throughput_per_s"],
                **{key: row[key] for key in ("compute_ms", "h2d_ms", "d2h_ms", "trtexec_ms") if key in row}}
               for row in report["results"]]
    built = {key: report[key] for key in ("tensorrt", "compute_capability", "engine", "build", "trtexec")
             if key in report}
    # The engine and the script's own timings go back to the host (run-folder relative paths).
    pull = [str(path.relative_to(Path.cwd())) for path in (folder / str(report.get("engine")), written)
            if path.is_file()]
    return {"configs": configs, "tensorrt_bundle": built, "versions": {"tensorrt": report.get("tensorrt")},
            "pull": pull}


def _absolute(job: dict, folder: Path) -> dict:
    """The host sends paths relative to the run folder; workers get them absolute."""
    job = {**job, "artifact": str(folder / job["artifact"])}
    if job.get("eval_inputs"):
        job["eval_inputs"] = str(folder / job["eval_inputs"])
    return job


def _guard(folder: Path, deadline_s: float) -> None:
    """Abort (worker killed, folder removed) when the host's connection closes or the deadline passes:
    an orphaned run would go on timing and skew whatever runs next on the board."""
    def on_eof() -> None:
        # The raw descriptor, not sys.stdin: a thread blocked in a buffered read makes the
        # interpreter's shutdown fail on the buffer's lock.
        while os.read(0, 65536):
            pass
        if _holding.is_set():
            _released.set()
            return
        abort(folder, "the host closed the connection")

    threading.Thread(target=on_eof, daemon=True).start()
    timer = threading.Timer(deadline_s, abort, (folder, f"the time budget ran out after {deadline_s:.0f} s"))
    timer.daemon = True
    timer.start()


def abort(folder: Path, reason: str) -> None:
    _aborting.set()
    try:
        _say(f"error: stopped: {reason}")
        _kill_children()
        remove_run_folder(folder)
    finally:
        os._exit(EXIT_ABORTED)


def _say(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # the link is gone (a broken pipe): there is nobody left to tell


def _kill_children() -> None:
    """SIGKILL this process's children (the worker) by pid, read from /proc (Linux; elsewhere the
    worker's own parent watch ends it)."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:
            try:
                os.kill(int(stat.parent.name), signal.SIGKILL)
            except OSError:
                pass


def remove_run_folder(folder: Path) -> bool:
    """Whether the folder is gone."""
    if not folder.name.startswith(RUN_PREFIX):  # never anything the tool did not make
        return False
    for _ in range(3):  # a killed worker may still be closing a file in it
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return True
        time.sleep(0.2)
    return False


def _isolate(folder: Path) -> None:
    """Workers import the package from this zipapp; every temp file goes under the run folder."""
    zipapp = str(Path(sys.argv[0]).resolve())
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (zipapp, os.environ.get("PYTHONPATH")) if p)
    scratch = folder / "tmp"
    scratch.mkdir(exist_ok=True)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)


def main(argv: list[str]) -> int:
    command, *rest = argv or ["help"]
    if command == "probe":
        return probe([m for m in (rest[0].split(",") if rest else []) if m])
    if command == "run":
        folder = Path.cwd()
        _isolate(folder)
        try:
            return run(Path(rest[0]))
        except BaseException:
            _halt_if_aborting()  # an abort's removal of the folder makes the main thread fail: let it finish
            raise
        finally:
            if remove_run_folder(folder):
                emit({"event": "removed"})  # spares the host a connection to clean up
    sys.stderr.write("usage: bench.pyz probe RUNTIME,... | run PLAN.json\n")
    return 2
