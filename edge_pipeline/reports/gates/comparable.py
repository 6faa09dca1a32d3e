"""Whether two runs' latencies are measured by the same software: the tool's release series, the
runtime that timed each row, and the report schema. A p50 from onnxruntime 1.10 is no reference for
1.32 (other kernels, other graph optimizations), and a baseline from another release series of this
tool may have timed differently; such latency gates are skipped as not comparable, and say which
versions differ, unless forced. Accuracy, fidelity and size gates still apply.

Runtimes compare on major.minor: a patch release fixes bugs, a minor one ships new kernels. The
tool compares on its release series: the major version, or major.minor before 1.0 (where a minor
release may change anything, as semantic versioning allows).
"""

from __future__ import annotations

from edge_pipeline.backends.registry import BACKENDS
from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.reports.gates.run_loading import LoadedRun

TOOL = "edge-pipeline"


def versions_differ(baseline: LoadedRun, new: LoadedRun, base_row: BenchmarkRow, new_row: BenchmarkRow) -> list[str]:
    """'name baseline vs new' for each version that makes the two rows' latencies incomparable;
    a version one side does not record is no difference (nothing is known to differ)."""
    differ = []
    base_tool, new_tool = run_versions(baseline).get(TOOL), run_versions(new).get(TOOL)
    if base_tool and new_tool and _series(base_tool) != _series(new_tool):
        differ.append(f"{TOOL} {base_tool} vs {new_tool}")
    base_schema, new_schema = baseline.report.get("schema_version"), new.report.get("schema_version")
    if base_schema != new_schema:
        differ.append(f"report schema {base_schema} vs {new_schema}")
    for runtime in _runtimes(new_row):
        base_version = base_row.runtime_versions.get(runtime) or run_versions(baseline).get(runtime)
        new_version = new_row.runtime_versions.get(runtime) or run_versions(new).get(runtime)
        if base_version and new_version and _major_minor(base_version) != _major_minor(new_version):
            differ.append(f"{runtime} {base_version} vs {new_version}")
    return differ


def run_versions(run: LoadedRun) -> dict[str, str]:
    """What the run recorded of its versions: the manifest's tool and host runtime versions, and the
    report's run_info (a report.json passed alone has only that)."""
    manifest = run.manifest or {}
    host = manifest.get("host") if isinstance(manifest.get("host"), dict) else {}
    info = run.report.get("run_info") if isinstance(run.report.get("run_info"), dict) else {}
    found: dict[str, str] = {}
    for source in (info.get("versions"), host.get("runtime_versions"), manifest.get("tool_versions")):
        if isinstance(source, dict):
            found.update({str(k): str(v) for k, v in source.items() if v})
    return found


def _runtimes(row: BenchmarkRow) -> list[str]:
    """The package that timed the row: its backend's runtime (all recorded ones for an unknown backend)."""
    descriptor = BACKENDS.get(row.backend)
    return [descriptor.runtime_module] if descriptor is not None else sorted(row.runtime_versions)


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


def _series(version: str) -> tuple[str, ...]:
    parts = version.split("+")[0].split(".")
    return tuple(parts[:2]) if parts[0] == "0" else tuple(parts[:1])
