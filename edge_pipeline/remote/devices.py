"""devices.yaml: how to reach each board and which targets it serves. Data, not code.

    devices:
      jetson:
        host: 192.168.1.40
        user: nvidia
        key_file: ~/.ssh/id_ed25519
        python: /home/nvidia/venv/bin/python   # numpy + the runtime; no torch needed
        workdir: edge-pipeline                 # relative to the login's home, or absolute
        targets: [jetson-orin-tensorrt]

Only the key file's *path* is ever read here or recorded in results; the key stays with ssh.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.loader import read_yaml_mapping, validate_config
from edge_pipeline.errors import ConfigError

DEVICES_ENV = "EDGE_PIPELINE_DEVICES"
DEFAULT_DEVICES_FILE = Path("devices.yaml")
# Remote paths reach a shell (ssh runs commands through the login shell): plain characters only.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")


class Device(StrictModel):
    host: str = Field(min_length=1, description="Host name or address ssh connects to.")
    user: str | None = Field(None, description="Login name (default: ssh's, from ~/.ssh/config or the local user).")
    port: int = Field(22, ge=1, le=65535)
    key_file: Path | None = Field(None, description="Private key ssh uses (-i); only the path is recorded.")
    workdir: str = Field("edge-pipeline", description="Folder for runs: relative to the login's home, or absolute.")
    python: str = Field("python3", description="The device's Python (3.10+) with numpy and the runtime.")
    targets: list[str] = Field(default_factory=list, description="Targets it serves; empty: any.")
    strict_host_key_checking: Literal["yes", "accept-new", "no"] = "yes"
    known_hosts_file: Path | None = Field(None, description="Instead of ~/.ssh/known_hosts.")
    connect_timeout_s: int = Field(10, ge=1, le=600)
    budget_s: float = Field(1800.0, gt=0, le=86_400, description="Whole session: connect, push, run, pull.")

    @field_validator("host", "user")
    @classmethod
    def _no_option_injection(cls, value: str | None) -> str | None:
        # A leading '-' would be read by ssh as an option; spaces and '@' would change the destination.
        if value is not None and (value.startswith("-") or re.search(r"[\s@]", value)):
            raise ValueError(f"'{value}' is not a plain host or user name")
        return value

    @field_validator("workdir", "python")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        if not _SAFE_PATH.match(value) or value.startswith("-"):
            raise ValueError(f"'{value}' must be a plain path (letters, digits, _ . / + -); no '~', spaces or quotes")
        return value

    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def record(self, name: str) -> dict:
        """What results keep about the device: where it is, never a secret (the key's path only)."""
        return {"name": name, "host": self.host, "user": self.user, "port": self.port,
                "key_file": str(self.key_file) if self.key_file else None, "workdir": self.workdir,
                "python": self.python, "targets": self.targets}


class DevicesFile(StrictModel):
    devices: dict[str, Device]

    @field_validator("devices")
    @classmethod
    def _names(cls, value: dict[str, Device]) -> dict[str, Device]:
        for name in value:
            if not re.match(r"^[A-Za-z0-9_.-]+$", name):
                raise ValueError(f"device name '{name}' may hold only letters, digits, _ . -")
        return value


def devices_path(given: Path | None) -> Path:
    """--devices, else $EDGE_PIPELINE_DEVICES, else ./devices.yaml."""
    if given is not None:
        return given
    return Path(os.environ[DEVICES_ENV]) if os.environ.get(DEVICES_ENV) else DEFAULT_DEVICES_FILE


def load_devices(path: Path) -> DevicesFile:
    if not path.is_file():
        raise ConfigError(f"devices file {path} does not exist; write one (see README: Benchmark on a device) "
                          f"or point --devices / {DEVICES_ENV} at it")
    loaded = validate_config(DevicesFile, read_yaml_mapping(path), str(path))
    for device in loaded.devices.values():
        if device.key_file is not None:
            device.key_file = device.key_file.expanduser()
            if not device.key_file.is_file():
                raise ConfigError(f"{path}: key_file {device.key_file} does not exist; fix the path or generate "
                                  f"a key with ssh-keygen")
    return loaded


def pick(devices: DevicesFile, names: list[str], path: Path) -> dict[str, Device]:
    unknown = [name for name in names if name not in devices.devices]
    if unknown:
        raise ConfigError(f"device '{unknown[0]}' is not in {path}; it lists {', '.join(devices.devices) or 'none'}")
    return {name: devices.devices[name] for name in dict.fromkeys(names)}
