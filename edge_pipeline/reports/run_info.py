"""Where and how a run was measured, as (label, text) pairs both report.md and report.html print at
the top: the host, its CPU and load, clocks, versions and date from report.json's ``run_info``.

Written defensively: run_info is free-form JSON (keys come and go between versions, values may be
strings, numbers, lists or objects), and older reports have none, in which case the bundle's
manifest.json (host, tool versions, date) stands in when it is there.
"""

from __future__ import annotations

# Known keys in reading order, with their labels; any other key follows, named after itself.
LABELS = {
    "created_utc": "report written (UTC)",
    "measured_from_utc": "timing from (UTC)",
    "measured_until_utc": "timing until (UTC)",
    "host": "host",
    "measured_hosts": "timed on",
    "os": "OS",
    "cpu_model": "CPU",
    "physical_cores": "physical cores",
    "usable_cpus": "usable CPUs",
    "load_avg_start": "load average at start (1/5/15 min)",
    "load_avg_end": "load average at end (1/5/15 min)",
    "load_avg": "load average (1/5/15 min)",
    "clock_state": "CPU clocks",
    "cpu_flags": "CPU flags",
    "python": "Python",
    "versions": "versions",
}


def run_info_items(report: dict, manifest: dict | None = None) -> list[tuple[str, str]]:
    """The run's facts in reading order; empty when neither the report nor a manifest records any."""
    info = report.get("run_info")
    if not isinstance(info, dict) or not info:
        info = _from_manifest(manifest)
    # An empty value says nothing the reader can use; a key that is absent is simply not shown.
    present = {key: value for key, value in info.items() if value not in (None, "", [], {})}
    ordered = [k for k in LABELS if k in present] + [k for k in present if k not in LABELS]
    return [(LABELS.get(key, key.replace("_", " ")), describe(present[key])) for key in ordered]


def measurement_warnings(report: dict) -> list[str]:
    """Top-level warnings about the measurement as a whole (a loaded host, unlocked clocks ...)."""
    found = report.get("measurement_warnings") or []
    if isinstance(found, str):
        return [found]
    return [str(w) for w in found] if isinstance(found, list) else []


def describe(value: object) -> str:
    """One line for any JSON value: lists space-separated (numbers rounded), objects as 'key value'."""
    if value is None or value == "" or value == [] or value == {}:
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return " ".join(describe(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {describe(v)}" for k, v in value.items())
    return str(value)


def _from_manifest(manifest: dict | None) -> dict:
    """A report from before run_info: what its manifest recorded of the host, versions and date."""
    if not isinstance(manifest, dict):
        return {}
    host = manifest.get("host") if isinstance(manifest.get("host"), dict) else {}
    versions = {**(manifest.get("tool_versions") or {}), **(host.get("runtime_versions") or {})}
    info = {"created_utc": manifest.get("created_utc"), "host": host.get("hostname"), "os": host.get("os"),
            "cpu_model": host.get("cpu_model"), "usable_cpus": host.get("usable_cpus"),
            "cpu_flags": host.get("cpu_flags"), "python": host.get("python"), "versions": versions}
    return {key: value for key, value in info.items() if value not in (None, "", [], {})}


def has_run_info(report: dict) -> bool:
    return isinstance(report.get("run_info"), dict) and bool(report["run_info"])
