"""A real OpenSSH server on loopback, a throwaway key, and a "device" Python that has numpy and
onnxruntime but no torch: the remote benchmark runs end to end against these.

sshd is not part of the image: the first session that needs it tries `apt-get install
openssh-server` once (a lock serialises sessions, a marker remembers a failure) and the tests skip,
saying why, where that cannot work.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

SSHD = Path("/usr/sbin/sshd")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
_INSTALL_LOCK = Path("/tmp/edge-pipeline-tests-sshd-install.lock")
_INSTALL_FAILED = Path("/tmp/edge-pipeline-tests-sshd-install.failed")


def _install_sshd() -> str | None:
    """None when sshd is there (installed now or before), else why not."""
    if SSHD.is_file():
        return None
    if os.geteuid() != 0:
        return "sshd is not installed and installing it needs root"
    if shutil.which("apt-get") is None:
        return "sshd is not installed and there is no apt-get"
    with open(_INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one session installs; the others wait, then see the result
        if SSHD.is_file():
            return None
        if _INSTALL_FAILED.is_file():
            return f"an earlier attempt to install openssh-server failed: {_INSTALL_FAILED.read_text().strip()}"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
        command = ["apt-get", "install", "-y", "--no-install-recommends", "openssh-server"]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
            if proc.returncode != 0:  # stale package lists: refresh once
                subprocess.run(["apt-get", "update"], capture_output=True, timeout=120, env=env)
                proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        except subprocess.TimeoutExpired:
            proc = None
        if not SSHD.is_file():
            why = "timed out" if proc is None else (proc.stderr.strip().splitlines() or ["exit code"])[-1]
            _INSTALL_FAILED.write_text(why)
            return f"apt-get install openssh-server failed: {why}"
    return None


@pytest.fixture(scope="session")
def sshd_binary() -> Path:
    reason = _install_sshd()
    if reason is not None:
        pytest.skip(reason)
    return SSHD


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@dataclass
class Server:
    port: int
    host_key: Path
    process: subprocess.Popen

    def stop(self) -> None:
        """The listener and every sshd it forked (the open sessions): the link drops as if the board
        went away; the commands those sessions run are left to notice it."""
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            if _command_name(pid) == "sshd" or pid == self.process.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.process.wait(timeout=10)


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.setdefault(parent, []).append(int(stat.parent.name))
    return found


def _descendants(pid: int) -> list[int]:
    tree, found, pending = _children(), [], [pid]
    while pending:
        for child in tree.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def start_sshd(folder: Path, authorized: list[Path], sshd: Path, extra: str = "") -> Server:
    """``extra``: more sshd_config lines (e.g. ``SetEnv PATH=...``: the device's tools for a session)."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "host_key")
    (folder / "authorized_keys").write_text("".join(Path(f"{k}.pub").read_text() for k in authorized))
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {folder / 'sshd.pid'}
AuthorizedKeysFile {folder / 'authorized_keys'}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
Subsystem sftp {SFTP_SERVER}
LogLevel ERROR
{extra}""")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory (root runs)
    log = open(folder / "sshd.log", "w")  # open for the server's lifetime
    process = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Server(port, host_key, process)
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    pytest.skip(f"sshd did not start: {(folder / 'sshd.log').read_text().strip()[-300:]}")


def known_hosts_line(server: Server) -> str:
    key = Path(f"{server.host_key}.pub").read_text().split()
    return f"[127.0.0.1]:{server.port} {key[0]} {key[1]}\n"


@pytest.fixture(scope="session")
def client_key(tmp_path_factory) -> Path:
    return keygen(tmp_path_factory.mktemp("client-key") / "id_ed25519")


@pytest.fixture(scope="session")
def server(sshd_binary, client_key, tmp_path_factory):
    started = start_sshd(tmp_path_factory.mktemp("sshd"), [client_key], sshd_binary)
    yield started
    if started.process.poll() is None:
        started.stop()


def _site_packages(prefix: Path) -> Path:
    return next((prefix / "lib").glob("python3*/site-packages"))


def device_venv(folder: Path, packages: tuple[str, ...]) -> Path:
    """A venv of this Python with only ``packages`` (and their metadata) linked from the test venv:
    what a board with just a runtime installed looks like. No pip, no torch, no pydantic."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    source = Path(np.__file__).resolve().parent.parent
    target = _site_packages(folder)
    for entry in source.iterdir():
        name = entry.name.lower()
        if any(name == p or name.startswith(f"{p}.") or name.startswith(f"{p}-") for p in packages):
            (target / entry.name).symlink_to(entry)
    return folder / "bin" / "python"


@pytest.fixture(scope="session")
def device_python(tmp_path_factory) -> Path:
    return device_venv(tmp_path_factory.mktemp("device-venv"), ("numpy", "onnxruntime"))


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> Path:
    """A board with numpy but no runtime."""
    return device_venv(tmp_path_factory.mktemp("bare-venv"), ("numpy",))


def write_tiny_onnx(path: Path, seed: int = 0, size: int = 4) -> Path:
    """A MatMul + Relu model with a dynamic batch, written with onnx's helpers (no torch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(seed).standard_normal((size, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def write_devices(path: Path, devices: dict[str, dict]) -> Path:
    path.write_text(yaml.safe_dump({"devices": devices}, sort_keys=False))
    return path


def device_entry(server: Server, key: Path, python: Path, workdir: Path, known_hosts: Path, **changes) -> dict:
    if not known_hosts.exists():
        known_hosts.write_text(known_hosts_line(server))
    entry = {"host": "127.0.0.1", "port": server.port, "key_file": str(key), "python": str(python),
             "workdir": str(workdir), "known_hosts_file": str(known_hosts), "connect_timeout_s": 5,
             "budget_s": 120}
    entry.update(changes)
    return entry
