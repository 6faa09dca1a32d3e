"""This host's CPU as /proc/cpuinfo names it: its model and its flags. Standard library only: the
benchmark worker, the device probe and the backends' read-outs of which kernels ran all use it.

Every reader takes ``root`` so tests can point it at a fake /proc tree.
"""

from __future__ import annotations

import platform
from pathlib import Path

# The flags that pick a runtime's INT8 and bf16 kernels (what fingerprints and reports show).
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "asimddp", "i8mm", "sve")


def _cpuinfo(root: Path) -> str:
    try:
        return (root / "proc" / "cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def cpu_model(root: Path = Path("/")) -> str:
    for line in _cpuinfo(root).splitlines():
        if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags(root: Path = Path("/")) -> list[str]:
    """The KERNEL_FLAGS this CPU has, in that order."""
    flags = cpu_flag_set(root)
    return [f for f in KERNEL_FLAGS if f in flags]


def cpu_flag_set(root: Path = Path("/")) -> set[str]:
    """Every flag /proc/cpuinfo lists for the first CPU (x86 'flags', ARM 'Features'); empty when unknown."""
    for line in _cpuinfo(root).splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


_ARCH_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def host_arch() -> str:
    """This machine's instruction set as target profiles name it (x86_64, arm64)."""
    return _ARCH_ALIASES.get(platform.machine().lower(), platform.machine().lower())
