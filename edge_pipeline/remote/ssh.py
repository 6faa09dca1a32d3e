"""ssh and scp as subprocesses (the system's OpenSSH: its config, agent and known_hosts apply), and
their failures as one-line DeviceErrors that name the device and the fix.

Every call is non-interactive (BatchMode: a prompt would hang a CI job), checks the host key as the
device's config says, gives up connecting after connect_timeout_s and notices a dead link within
about 15 s (ServerAlive*). Each call takes the seconds left of the device's budget as its timeout.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.errors import DeviceError
from edge_pipeline.remote.devices import Device

_ALIVE_INTERVAL_S = 5


@dataclass(frozen=True)
class Link:
    name: str
    device: Device
    devices_file: Path

    def options(self) -> list[str]:
        device = self.device
        options = ["-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={device.strict_host_key_checking}",
                   "-o", f"ConnectTimeout={device.connect_timeout_s}", "-o", f"ServerAliveInterval={_ALIVE_INTERVAL_S}",
                   "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"]
        if device.key_file is not None:
            options += ["-i", str(device.key_file), "-o", "IdentitiesOnly=yes"]
        if device.known_hosts_file is not None:
            options += ["-o", f"UserKnownHostsFile={device.known_hosts_file}"]
        return options

    def ssh_argv(self, command: str) -> list[str]:
        return ["ssh", *self.options(), "-p", str(self.device.port), "--", self.device.destination(), command]

    def scp_argv(self, sources: list[Path], remote_folder: str) -> list[str]:
        return ["scp", "-q", "-r", *self.options(), "-P", str(self.device.port), "--",
                *map(str, sources), f"{self._scp_target()}:{remote_folder}/"]

    def scp_back_argv(self, remote_files: list[str], local_folder: Path) -> list[str]:
        return ["scp", "-q", *self.options(), "-P", str(self.device.port), "--",
                *(f"{self._scp_target()}:{name}" for name in remote_files), f"{local_folder}/"]

    def _scp_target(self) -> str:
        host = f"[{self.device.host}]" if ":" in self.device.host else self.device.host  # an IPv6 address
        return f"{self.device.user}@{host}" if self.device.user else host

    def run(self, command: str, timeout_s: float, what: str, data: bytes | None = None) -> subprocess.CompletedProcess:
        """``command`` in the device's login shell, ``data`` on its stdin; a failure of ssh itself
        (exit 255) raises."""
        return self._call(self.ssh_argv(command), timeout_s, what, data)

    def push(self, sources: list[Path], remote_folder: str, timeout_s: float) -> None:
        proc = self._call(self.scp_argv(sources, remote_folder), timeout_s, "copying the files")
        if proc.returncode != 0:
            raise self.error_from(proc.stderr, "copying the files")

    def pull(self, remote_files: list[str], local_folder: Path, timeout_s: float) -> None:
        """Copy files of the device (paths relative to the login's home, or absolute) into ``local_folder``."""
        local_folder.mkdir(parents=True, exist_ok=True)
        proc = self._call(self.scp_back_argv(remote_files, local_folder), timeout_s, "copying files back")
        if proc.returncode != 0:
            raise self.error_from(proc.stderr, "copying files back")

    def _call(self, argv: list[str], timeout_s: float, what: str,
              data: bytes | None = None) -> subprocess.CompletedProcess:
        if timeout_s <= 0:
            raise self.budget_error(what)
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, input=data or b"")
            proc.stdout, proc.stderr = (proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
        except subprocess.TimeoutExpired as exc:
            raise self.budget_error(what) from exc
        except FileNotFoundError as exc:
            raise DeviceError(f"device '{self.name}': the '{argv[0]}' command is not installed here; install "
                              "the OpenSSH client (e.g. apt-get install openssh-client)") from exc
        if proc.returncode == 255 and argv[0] == "ssh":
            raise self.error_from(proc.stderr, what)
        return proc

    def where(self) -> str:
        return f"device '{self.name}' ({self.device.destination()}:{self.device.port})"

    def budget_error(self, what: str) -> DeviceError:
        return DeviceError(f"{self.where()} ran past its time budget of {self.device.budget_s:.0f} s while "
                           f"{what}; raise budget_s in {self.devices_file} or time fewer configurations")

    def error_from(self, stderr: str, what: str) -> DeviceError:
        """The one line that says what went wrong and what to do, from ssh's or scp's stderr."""
        return DeviceError(f"{self.where()}: {_diagnose(stderr, self)} (while {what})")


def _diagnose(stderr: str, link: Link) -> str:
    text = stderr.lower()
    device, file = link.device, link.devices_file
    if "no space left on device" in text:
        return f"its disk is full; free space under {device.workdir} there or point workdir at a larger disk in {file}"
    if "identification has changed" in text:
        return (f"its host key does not match known_hosts (reinstalled board, or someone in between); if expected, "
                f"run ssh-keygen -R {_known_hosts_name(device)} and connect once by hand")
    if "host key verification failed" in text:
        return (f"its host key is not in known_hosts; connect once by hand (ssh -p {device.port} "
                f"{device.destination()}) to accept it, or set strict_host_key_checking: accept-new in {file}")
    if "permission denied" in text:
        key = f"the key {device.key_file}" if device.key_file else "your ssh keys"
        return (f"authentication failed with {key}; add its public key to ~/.ssh/authorized_keys of "
                f"{device.user or 'the login user'} there (ssh-copy-id) or fix key_file/user in {file}")
    if "connection refused" in text:
        return f"connection refused; start sshd on the device or fix host/port in {file}"
    if any(s in text for s in ("could not resolve", "name or service not known", "no route to host",
                               "timed out", "network is unreachable")):
        return f"unreachable ({_last_line(stderr)}); check it is powered and on the network, or fix host in {file}"
    if any(s in text for s in ("connection closed", "closed by remote host", "connection reset", "broken pipe",
                               "not responding", "lost connection", "disconnect")):
        return "the connection dropped; check the device is up and its network stable, then run again"
    return (f"ssh failed ({_last_line(stderr) or 'no message'}); check that `ssh -p {device.port} "
            f"{device.destination()}` works")


def _known_hosts_name(device: Device) -> str:
    return device.host if device.port == 22 else shlex.quote(f"[{device.host}]:{device.port}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
