"""`edge-pipeline benchmark --device` against a real sshd on loopback: the files pushed, timed by a
Python that has only numpy and onnxruntime, results pulled back and the run folder removed; then
the faults (wrong key, unknown or changed host key, refused connection, a missing runtime, the
server gone mid-run, the budget spent), each one line naming the device and the fix."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from edge_pipeline.cli.main import main
from edge_pipeline.remote.device_main import RUN_PREFIX
from tests.remote.conftest import device_entry, keygen, start_sshd, write_devices, write_tiny_onnx

pytestmark = pytest.mark.slow

FAST = ["--iterations", "5", "--warmup", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("models")
    return [write_tiny_onnx(folder / "a.onnx", 0), write_tiny_onnx(folder / "b.onnx", 1, size=8)]


def run_folders(workdir: Path) -> list[Path]:
    return sorted(workdir.glob(f"{RUN_PREFIX}*")) if workdir.exists() else []


def test_benchmark_on_a_device_end_to_end(server, client_key, device_python, models, tmp_path, capsys):
    workdir = tmp_path / "board" / "work"
    workdir.mkdir(parents=True)
    (workdir / "keep.txt").write_text("the board's own file")
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, client_key, device_python, workdir, tmp_path / "known_hosts")})
    out = tmp_path / "loop.json"
    code = main(["benchmark", "--device", "loop", "--devices", str(devices), *map(str, models), *FAST,
                 "--batch-sizes", "1,2", "--rounds", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(out.read_text())
    assert report["device"]["name"] == "loop" and report["device"]["key_file"] == str(client_key)
    assert "PRIVATE KEY" not in out.read_text()
    assert report["host"]["cpu_model"] and "onnxruntime" in report["host"]["runtime_versions"]
    assert "torch" not in report["host"]["runtime_versions"] and "partial" not in report
    assert [r["artifact"] for r in report["results"]] == [str(m) for m in models]
    for result in report["results"]:
        assert result["device"] == "loop" and len(result["sha256"]) == 64
        assert [c["batch_size"] for c in result["configs"]] == [1, 2]
        assert all(c["latency_ms"]["n"] == 10 and len(c["rounds"]) == 2 for c in result["configs"])
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0].endswith(",device") and all(line.endswith(",loop") for line in csv_lines[1:])
    assert "device loop:" in captured.out and f'"written": "{out}"' in captured.out
    # Only the run's own folder was made and removed; the board's files are untouched.
    assert run_folders(workdir) == [] and (workdir / "keep.txt").read_text() == "the board's own file"
    # The same file compares against a local timing of the same artifacts, by content.
    local = tmp_path / "local.json"
    assert main(["benchmark", *map(str, models), *FAST, "--batch-sizes", "1,2", "--out", str(local)]) == 0
    capsys.readouterr()
    assert main(["benchmark", "--compare", str(local), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "device loop:" in printed and "a.onnx" in printed and "only in" not in printed


def test_two_devices_run_in_parallel_each_into_its_own_file(server, client_key, device_python, models, tmp_path,
                                                            capsys):
    entries = {name: device_entry(server, client_key, device_python, tmp_path / name, tmp_path / "known_hosts")
               for name in ("left", "right")}
    devices = write_devices(tmp_path / "devices.yaml", entries)
    code = main(["benchmark", "--device", "left", "--device", "right", "--devices", str(devices), str(models[0]),
                 *FAST, "--out", str(tmp_path / "both.json")])
    assert code == 0, capsys.readouterr().err
    for name in ("left", "right"):
        report = json.loads((tmp_path / f"both.{name}.json").read_text())
        assert {r["device"] for r in report["results"]} == {name}
        assert (tmp_path / f"both.{name}.csv").is_file() and run_folders(tmp_path / name) == []


def test_wrong_key_is_an_authentication_error(server, device_python, models, tmp_path, capsys):
    stranger = keygen(tmp_path / "stranger")
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, stranger, device_python, tmp_path / "w", tmp_path / "known_hosts")})
    assert main(["benchmark", "--device", "loop", "--devices", str(devices), str(models[0]), *FAST]) == 10
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "device 'loop' (127.0.0.1:" in err
    assert f"authentication failed with the key {stranger}" in err and "authorized_keys" in err


def test_unknown_and_changed_host_keys_are_refused(server, client_key, device_python, models, tmp_path, capsys):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, client_key, device_python, tmp_path / "w", empty)})
    assert main(["benchmark", "--device", "loop", "--devices", str(devices), str(models[0]), *FAST]) == 10
    assert "host key is not in known_hosts; connect once by hand" in capsys.readouterr().err
    other = Path(f"{keygen(tmp_path / 'other_host')}.pub").read_text().split()
    changed = tmp_path / "changed_known_hosts"
    changed.write_text(f"[127.0.0.1]:{server.port} {other[0]} {other[1]}\n")
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, client_key, device_python, tmp_path / "w", changed)})
    assert main(["benchmark", "--device", "loop", "--devices", str(devices), str(models[0]), *FAST]) == 10
    assert "host key does not match known_hosts" in capsys.readouterr().err


def test_connection_refused_names_the_fix(server, client_key, device_python, models, tmp_path, capsys):
    from tests.remote.conftest import free_port

    devices = write_devices(tmp_path / "devices.yaml", {"loop": device_entry(
        server, client_key, device_python, tmp_path / "w", tmp_path / "known_hosts", port=free_port())})
    assert main(["benchmark", "--device", "loop", "--devices", str(devices), str(models[0]), *FAST]) == 10
    assert "connection refused; start sshd on the device or fix host/port" in capsys.readouterr().err


def test_missing_runtime_names_what_to_install(server, client_key, bare_python, models, tmp_path, capsys):
    workdir = tmp_path / "w"
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, client_key, bare_python, workdir, tmp_path / "known_hosts")})
    assert main(["benchmark", "--device", "loop", "--devices", str(devices), str(models[0]), *FAST]) == 3
    err = capsys.readouterr().err
    assert "device 'loop'" in err and f"onnxruntime does not import in {bare_python}" in err
    assert f"{bare_python} -m pip install onnxruntime" in err
    assert run_folders(workdir) == []  # nothing pushed beyond the benchmarker, and that removed


def test_server_gone_mid_run_keeps_what_was_measured(sshd_binary, client_key, device_python, models, tmp_path,
                                                     capsys):
    own = start_sshd(tmp_path / "sshd", [client_key], sshd_binary)
    workdir = tmp_path / "w"
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(own, client_key, device_python, workdir, tmp_path / "known_hosts")})
    out = tmp_path / "gone.json"

    def stop_after_first_result() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(workdir.glob(f"{RUN_PREFIX}*/jobs/0-0/result.json")):
            time.sleep(0.02)
        time.sleep(0.3)  # the result reaches the host before the link goes
        own.stop()

    stopper = threading.Thread(target=stop_after_first_result)
    stopper.start()
    code = main(["benchmark", "--device", "loop", "--devices", str(devices), *map(str, models), "--rounds", "20",
                 "--iterations", "5", "--warmup", "1", "--threads", "1", "--out", str(out)])
    stopper.join()
    err = capsys.readouterr().err
    assert code == 10, err
    assert "device 'loop'" in err and "the connection dropped" in err and "marked partial" in err
    report = json.loads(out.read_text())
    assert report["partial"]["reason"] and "latency_ms" in report["results"][0]["configs"][0]
    deadline = time.monotonic() + 10  # the device side removes its folder once it sees the link gone
    while run_folders(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_folders(workdir) == []


def test_time_budget_stops_the_run_and_keeps_the_rest(server, client_key, device_python, models, tmp_path, capsys):
    workdir = tmp_path / "w"
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, client_key, device_python, workdir, tmp_path / "known_hosts", budget_s=6)})
    out = tmp_path / "budget.json"
    code = main(["benchmark", "--device", "loop", "--devices", str(devices), *map(str, models), "--rounds", "100",
                 "--iterations", "5", "--warmup", "1", "--threads", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 10, err
    assert "ran past its time budget of 6 s" in err and "raise budget_s" in err
    report = json.loads(out.read_text())
    assert "time budget" in report["partial"]["reason"]
    assert run_folders(workdir) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs as the board's work disk (skipped where this container may not mount)."""
    import subprocess

    folder = tmp_path / "small"
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True,
                          text=True, timeout=10)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {proc.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True, timeout=10)


def test_a_full_disk_is_refused_before_the_files_are_pushed(server, client_key, device_python, models, small_disk,
                                                           tmp_path, capsys):
    workdir = small_disk / "work"
    devices = write_devices(tmp_path / "devices.yaml", {
        "loop": device_entry(server, client_key, device_python, workdir, tmp_path / "known_hosts")})
    assert main(["benchmark", "--device", "loop", "--devices", str(devices), str(models[0]), *FAST]) == 10
    err = capsys.readouterr().err
    assert "device 'loop'" in err and f"MiB free under {workdir}" in err and "point workdir at a larger disk" in err
    assert run_folders(workdir) == []
