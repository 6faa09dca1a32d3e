"""Where a measurement was taken: CPU, memory, OS, runtime versions, load and, on a Jetson, the
board, its power mode and whether its clocks are locked. Reads /proc, /sys and a few tools; never torch.

Every reader takes ``root`` so tests can point it at a fake /proc + /sys tree.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edge_pipeline.cpuinfo import cpu_flag_set, cpu_flags, cpu_model, host_arch


def _read(root: Path, relative: str) -> str | None:
    try:
        return (root / relative.lstrip("/")).read_text(errors="replace").strip().strip("\x00")
    except OSError:
        return None


def missing_cpu_features(features: list[str], root: Path = Path("/")) -> list[str] | None:
    """The ``features`` (cpuinfo flag names, as a target profile lists them) this host lacks; None
    when this host's flags cannot be read (no /proc/cpuinfo: nothing can be said)."""
    flags = cpu_flag_set(root)
    if not flags:
        return None
    return [feature for feature in features if feature not in flags]


def memory_bytes(root: Path = Path("/")) -> int | None:
    meminfo = _read(root, "/proc/meminfo") or ""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def physical_cores(root: Path = Path("/")) -> int | None:
    """Physical cores of the machine (SMT siblings counted once); None when nothing says.

    Two logical CPUs per core share execution units, so "4 threads on 4 CPUs" can mean two cores
    contended: the report shows both counts. sysfs first (it also knows ARM clusters, where
    /proc/cpuinfo has no core ids), then /proc/cpuinfo's (physical id, core id) pairs.
    """
    return _cores_from_sysfs(root) or _cores_from_cpuinfo(root)


def _cores_from_sysfs(root: Path) -> int | None:
    # One siblings list per physical core: every logical CPU of that core names the same list.
    siblings = set()
    for topology in (root / "sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        listed = _read(topology, "core_cpus_list") or _read(topology, "thread_siblings_list")
        if listed:
            siblings.add(listed)
    return len(siblings) or None


def _cores_from_cpuinfo(root: Path) -> int | None:
    cores, package = set(), None
    for line in (_read(root, "/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def usable_cpus() -> int | None:
    """Logical CPUs this process may run on (its affinity mask: taskset, cgroup cpusets)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (runnable threads); None where the OS keeps none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def measured_host() -> str:
    """The machine a timing belongs to, as rows carry it: host name and CPU model."""
    return f"{platform.node()} ({cpu_model()})"


def measurement_stamp() -> dict:
    """When, where and under what load a timing started or ended; kept with the cached result."""
    return {"utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "host": measured_host(),
            "load_avg": load_average()}


def clock_state(frequencies: dict) -> str:
    """'locked' (every CPU's min frequency equals its max), 'unlocked', or 'unknown' when the
    kernel exposes no cpufreq data (most VMs and containers): not knowing is not "unlocked"."""
    per_cpu = frequencies.get("per_cpu") or {}
    if not per_cpu or any(c["min_khz"] is None or c["max_khz"] is None for c in per_cpu.values()):
        return "unknown"
    return "locked" if all(c["min_khz"] == c["max_khz"] for c in per_cpu.values()) else "unlocked"


def cpu_frequencies(root: Path = Path("/")) -> dict:
    """Governor and frequencies per CPU; ``locked`` when every CPU's min equals its max.

    ``clocks_locked`` stays a bool for older readers (False also when unknown); ``clock_state``
    tells "unlocked" from "unknown".
    """
    cpus = sorted((root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq"), key=lambda p: int(p.parent.name[3:]))
    per_cpu = {}
    for cpufreq in cpus:
        per_cpu[cpufreq.parent.name] = {
            "governor": _read(cpufreq, "scaling_governor"),
            "cur_khz": _int(_read(cpufreq, "scaling_cur_freq")),
            "min_khz": _int(_read(cpufreq, "scaling_min_freq")),
            "max_khz": _int(_read(cpufreq, "scaling_max_freq")),
        }
    governors = sorted({c["governor"] for c in per_cpu.values() if c["governor"]})
    locked = bool(per_cpu) and all(c["min_khz"] is not None and c["min_khz"] == c["max_khz"] for c in per_cpu.values())
    frequencies = {"governors": governors, "clocks_locked": locked, "per_cpu": per_cpu}
    return {**frequencies, "clock_state": clock_state(frequencies)}


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def jetson_info(root: Path = Path("/"), run_tools: bool = True) -> dict | None:
    """Board model, L4T release, nvpmodel power mode, GPU/EMC clock locks and one tegrastats line.

    None when this is not a Jetson (no /etc/nv_tegra_release and no 'nvidia' device-tree model).
    """
    model = _read(root, "/proc/device-tree/model")
    release = _read(root, "/etc/nv_tegra_release")
    if release is None and "nvidia" not in (model or "").lower():
        return None
    return {
        "board_model": model,
        "l4t_release": release.splitlines()[0] if release else None,
        "power_mode": nvpmodel_mode(root, run_tools),
        "gpu_clock": _devfreq_lock(root, ("gpu", "ga10b", "gv11b", "gp10b", "17000000")),
        "emc_clock": _emc_lock(root),
        "tegrastats": _tegrastats_line() if run_tools else None,
    }


def nvpmodel_mode(root: Path, run_tools: bool) -> dict | None:
    """`nvpmodel -q` when it runs (name and id); else the id nvpmodel saves in /var/lib/nvpmodel/status."""
    if run_tools and shutil.which("nvpmodel"):
        output = _tool_output(["nvpmodel", "-q"])
        if output:
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            name = next((line.split(":", 1)[1].strip() for line in lines if "Power Mode" in line), None)
            mode_id = next((line for line in lines if line.isdigit()), None)
            return {"name": name, "id": _int(mode_id), "source": "nvpmodel -q"}
    status = _read(root, "/var/lib/nvpmodel/status")
    if status and "pmode:" in status:
        return {"name": None, "id": _int(status.split("pmode:", 1)[1].strip()), "source": "/var/lib/nvpmodel/status"}
    return None


def _devfreq_lock(root: Path, name_hints: tuple[str, ...]) -> dict | None:
    for device in sorted((root / "sys/class/devfreq").glob("*")):
        if any(hint in device.name for hint in name_hints):
            low, high, cur = (_int(_read(device, n)) for n in ("min_freq", "max_freq", "cur_freq"))
            return {"device": device.name, "cur_hz": cur, "min_hz": low, "max_hz": high,
                    "locked": low is not None and low == high}
    return None


def _emc_lock(root: Path) -> dict | None:
    """The memory clock: jetson_clocks pins it by setting the debugfs override (root-only to read)."""
    override = _int(_read(root, "/sys/kernel/debug/bpmp/debug/clk/emc/mrq_rate_locked"))
    rate = _int(_read(root, "/sys/kernel/debug/bpmp/debug/clk/emc/rate"))
    if override is None and rate is None:
        return None
    return {"rate_hz": rate, "locked": bool(override) if override is not None else None}


def _tegrastats_line() -> str | None:
    if not shutil.which("tegrastats"):
        return None
    try:
        proc = subprocess.Popen(["tegrastats", "--interval", "200"], stdout=subprocess.PIPE, text=True)
    except OSError:
        return None
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    return line or None


def _tool_output(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None


def runtime_versions() -> dict[str, str]:
    """Installed runtime packages, read from metadata so nothing heavy is imported."""
    from edge_pipeline.backends.registry import tracked_packages

    found = {}
    for package in dict.fromkeys(["numpy", *tracked_packages()]):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found


def fingerprint(root: Path = Path("/"), run_tools: bool = True) -> dict:
    """Identity of the host: enough to refuse comparing numbers from different machines."""
    frequencies = cpu_frequencies(root)
    first = next(iter(frequencies["per_cpu"].values()), {})
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "arch": host_arch(),
        "cpu_model": cpu_model(root),
        "cpu_flags": cpu_flags(root),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "physical_cores": physical_cores(root),
        "load_avg": load_average(),
        "memory_bytes": memory_bytes(root),
        "governor": first.get("governor"),
        "cur_freq_khz": first.get("cur_khz"),
        "cpu_frequency": frequencies,
        "clock_state": frequencies["clock_state"],
        "jetson": jetson_info(root, run_tools),
        "python": platform.python_version(),
        "runtime_versions": runtime_versions(),
    }


def measurement_scope(target_arch: str | None) -> str:
    """'device' when this host has the target's instruction set, else 'host': the numbers time the
    artifact on this machine and say nothing about the target device's speed."""
    return "device" if target_arch is None or target_arch == host_arch() else "host"


def timing_identity() -> dict:
    """The part of the fingerprint that changes timings; used in benchmark cache keys."""
    return {
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "usable_cpus": usable_cpus(),
    }
