"""One device's benchmark session: probe, push, run, collect, clean up; within the device's budget.

The jobs are the ones `edge-pipeline benchmark` builds locally (standalone.file_job), checked here
against the same bounds; the device runs them with the same worker in the same round order, and
the report is assembled here as locally, with the device's fingerprint as its host. A session
never raises once the run started: what was measured comes back as a report marked ``partial``
with the error beside it, so the caller can write it before failing.
"""

from __future__ import annotations

import json
import queue
import shlex
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edge_pipeline.errors import BackendUnavailableError, DeviceError, EdgePipelineError
from edge_pipeline.progress import progress
from edge_pipeline.remote import device_main
from edge_pipeline.remote.ssh import Link

_ZIPAPP = "bench.pyz"
_CLEANUP_TIMEOUT_S = 30.0  # beyond the budget: leaving a folder behind is worse than a late exit
_EXIT_OLD_PYTHON = 64
_EXIT_NO_FOLDER, _EXIT_NO_ZIPAPP = 71, 72  # the probe's shell line: which step failed


@dataclass
class Upload:
    """What a session pushes: artifact files (with sidecars) per job, the data, the benchmarker."""

    files: list[list[Path]]  # per job: the artifact first, then its sidecars
    eval_inputs: Path | None
    zipapp: Path
    runtimes: list[str]  # per job: the module that runs it

    def size(self) -> int:
        paths = [p for group in self.files for p in group] + [p for p in (self.eval_inputs, self.zipapp) if p]
        # A folder (a device bundle) counts with every file in it.
        files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
        return sum(f.stat().st_size for f in files)


@dataclass
class Outcome:
    name: str
    report: dict | None  # None: nothing was measured
    error: EdgePipelineError | None


class Session:
    def __init__(self, link: Link, pull_to: Path | None = None):
        """``pull_to``: where files the device offers back (a Jetson engine) are copied, per job
        index; None: nothing is copied back and the device does not wait for it."""
        self.link = link
        self.pull_to = pull_to
        self.deadline = time.monotonic() + link.device.budget_s
        self.folder = f"{link.device.workdir.rstrip('/')}/{device_main.RUN_PREFIX}{uuid.uuid4().hex[:16]}"
        self.created = False
        self.removed = False  # the device said it removed the folder itself: no cleanup connection

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, jobs: list[dict], rounds: int, upload: Upload) -> tuple[dict, list[dict], str | None]:
        """(the device's probe, events streamed back, why the run stopped early or None)."""
        try:
            probed = self._prepare(upload)
            self._push(upload, jobs, rounds)
            events, stopped = self._stream()
            return probed, events, stopped
        finally:
            if not self.removed:
                self.clean_up()

    def _prepare(self, upload: Upload) -> dict:
        """One connection: make the run folder, write the benchmarker into it from stdin, probe."""
        workdir, folder = shlex.quote(self.link.device.workdir), shlex.quote(self.folder)
        needed = sorted(set(upload.runtimes))
        # mkdir without -p for the run folder: it must be new, so removing it later removes only ours.
        probe = self._python(f"probe {','.join(needed)}")
        command = (f"{{ mkdir -p -- {workdir} && mkdir -- {folder}; }} || exit {_EXIT_NO_FOLDER}; "
                   f"cat > {folder}/{_ZIPAPP} || exit {_EXIT_NO_ZIPAPP}; {probe}")
        proc = self.link.run(command, self.left(), "checking its Python", upload.zipapp.read_bytes())
        if proc.returncode == _EXIT_NO_FOLDER:
            raise DeviceError(f"{self.link.where()}: cannot create {self.folder} ({_tail(proc.stderr)}); make "
                              f"workdir {self.link.device.workdir} writable or change it in {self.link.devices_file}")
        self.created = True
        if proc.returncode == _EXIT_NO_ZIPAPP:
            raise self.link.error_from(proc.stderr, "copying the benchmarker")
        return self._probed(proc, needed, upload)

    def _python(self, arguments: str) -> str:
        return f"cd {shlex.quote(self.folder)} && {shlex.quote(self.link.device.python)} {_ZIPAPP} {arguments}"

    def _probed(self, proc: subprocess.CompletedProcess, needed: list[str], upload: Upload) -> dict:
        python = self.link.device.python
        if proc.returncode in (126, 127):
            raise DeviceError(f"{self.link.where()}: Python '{python}' is not there; install Python 3.10+ or set "
                              f"python: in {self.link.devices_file}")
        if proc.returncode == _EXIT_OLD_PYTHON:
            raise DeviceError(f"{self.link.where()}: {_tail(proc.stderr).removeprefix('error: ')}; set python: in "
                              f"{self.link.devices_file} to a Python 3.10+")
        probed = _events(proc.stdout)
        if proc.returncode != 0 or not probed:
            why = _tail(proc.stderr) or f"exit code {proc.returncode}"
            raise DeviceError(f"{self.link.where()}: the benchmarker did not start ({why}); check "
                              f"`{python} --version` there")
        probed = probed[0]
        for module in ["numpy", *needed]:
            state = probed["modules"][module]
            if not state["ok"]:
                raise BackendUnavailableError(
                    f"{self.link.where()}: {module} does not import in {python} ({state['error']}); install it "
                    f"there: {python} -m pip install {_package_of(module)}")
        need = int(upload.size() * 1.1) + 16 * 2**20  # the files, plus room for the workers' scratch
        if probed["free_bytes"] < need:
            raise DeviceError(f"{self.link.where()}: {probed['free_bytes'] / 2**20:.0f} MiB free under "
                              f"{self.link.device.workdir}, the run needs {need / 2**20:.0f} MiB; free space there or "
                              f"point workdir at a larger disk in {self.link.devices_file}")
        return probed

    def _push(self, upload: Upload, jobs: list[dict], rounds: int) -> None:
        """The files in a local staging tree mirroring the run folder (symlinks: scp copies what
        they point at), copied with one scp."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ep-push-") as tmp:
            staging = Path(tmp)
            for index, group in enumerate(upload.files):
                (staging / "artifacts" / str(index)).mkdir(parents=True)
                for path in group:
                    _stage(path.resolve(), staging / "artifacts" / str(index) / path.name)
            entries = [staging / "artifacts"]
            if upload.eval_inputs is not None:
                (staging / "data").mkdir()
                (staging / "data" / upload.eval_inputs.name).symlink_to(upload.eval_inputs.resolve())
                entries.append(staging / "data")
            plan = {"jobs": jobs, "rounds": rounds, "deadline_s": max(self.left() - 2.0, 1.0),
                    "pull": self.pull_to is not None}
            (staging / "plan.json").write_text(json.dumps(plan, default=str))
            self.link.push([*entries, staging / "plan.json"], self.folder, self.left())

    def _stream(self) -> tuple[list[dict], str | None]:
        """Run the plan, collecting events as they come; on budget or link loss, stop and say why."""
        argv = self.link.ssh_argv(self._python("run plan.json"))
        # stdin stays open: its EOF is how the device learns this side went away.
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        lines: queue.Queue = queue.Queue()
        stderr: list[str] = []
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        err_thread = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
        err_thread.start()
        events: list[dict] = []
        grace = self.link.device.connect_timeout_s + 5.0  # the device stops itself first; this is the backstop
        try:
            while True:
                try:
                    line = lines.get(timeout=max(self.left() + grace, 0.1))
                except queue.Empty:
                    return events, self.link.budget_error("timing").args[0]
                if line is None:
                    break
                for event in _events(line):
                    events.append({**event, "received_utc": _now()})
                    if event.get("event") == "hold":  # the run is done; its files wait for us
                        events += self._pull_back(events)
                        _close_stdin(proc)  # releases the device: it removes its folder and exits
                self.removed = self.removed or (bool(events) and events[-1].get("event") == "removed")
                self._report_progress(events)
        finally:
            _stop(proc)
        err_thread.join(timeout=5)
        return events, self._why_stopped(proc.returncode, "".join(stderr), events)

    def _pull_back(self, events: list[dict]) -> list[dict]:
        """Copy each job's offered files into pull_to/<index>/; a failed copy is said in a "pulled"
        event's error (the timings are back already, only the files are missing)."""
        if self.pull_to is None:
            return []
        offered: dict[int, list[str]] = {}
        for event in events:
            if event.get("event") == "measured" and event["result"].get("pull"):
                offered[event["index"]] = event["result"]["pull"]
        pulled = []
        for index, names in sorted(offered.items()):
            local = self.pull_to / str(index)
            try:
                self.link.pull([f"{self.folder}/{name}" for name in names], local, self.left())
            except DeviceError as error:
                pulled.append({"event": "pulled", "index": index, "files": [], "error": str(error)})
                continue
            pulled.append({"event": "pulled", "index": index, "files": [str(local / Path(n).name) for n in names]})
        return pulled

    def _report_progress(self, events: list[dict]) -> None:
        last = events[-1] if events else {}
        if last.get("event") in ("measured", "failed"):
            progress("benchmark", f"device {self.link.name}: file {last['index'] + 1}, round {last['round'] + 1} "
                                  f"{'timed' if last['event'] == 'measured' else 'failed'}")

    def _why_stopped(self, returncode: int, stderr: str, events: list[dict]) -> str | None:
        if any(event.get("event") == "done" for event in events):
            return None
        if returncode == device_main.EXIT_ABORTED and "time budget" in stderr:
            return self.link.budget_error("timing").args[0]
        if returncode == 255:
            return self.link.error_from(stderr, "timing").args[0]
        return f"{self.link.where()}: the benchmarker stopped ({_tail(stderr) or f'exit code {returncode}'})"

    def clean_up(self) -> None:
        """Remove the run folder (the device removes it itself too; this is for a run that never
        started). Only the folder this session created, never its parent."""
        if not self.created:
            return
        command = f"rm -rf -- {shlex.quote(self.folder)}"
        try:
            self.link.run(command, min(_CLEANUP_TIMEOUT_S, max(self.left(), 0) + _CLEANUP_TIMEOUT_S), "cleaning up")
        except DeviceError as error:
            progress("benchmark", f"could not remove {self.folder} on {self.link.where()}: {error}; remove it by hand")


def _stage(source: Path, link: Path) -> None:
    """A symlink per file; a folder (a device bundle) as real folders holding them, since scp
    follows links to files in a tree it copies but not links to folders."""
    if not source.is_dir():
        link.symlink_to(source)
        return
    link.mkdir()
    for child in sorted(source.iterdir()):
        _stage(child, link / child.name)


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _close_stdin(proc: subprocess.Popen) -> None:
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:
        pass


def _now() -> str:
    # This host's clock: a board without a battery-backed clock may think it is 1970.
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _stop(proc: subprocess.Popen) -> None:
    """Close stdin (the device aborts and cleans up on EOF), then end ssh if it lingers."""
    _close_stdin(proc)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _events(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        if line.startswith(device_main.MARK + " "):
            found.append(json.loads(line[len(device_main.MARK) + 1:]))
    return found


def _package_of(module: str) -> str:
    """The distribution that installs a runtime module (its registry row's first package)."""
    from edge_pipeline.backends.registry import BACKENDS

    row = next((r for r in BACKENDS.values() if r.runtime_module == module), None)
    return row.packages[0] if row else module


def _tail(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
