"""Say what works on this machine, backend by backend, and how to install what is missing.

A backend is "ready" when every part of it works, "partial" when it makes artifacts but a part
(e.g. TensorRT's engine build) needs more, "runtime only" when it can benchmark artifacts made
elsewhere (a device install), and "missing" otherwise. `--json` prints the same as one object.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge_pipeline.cli.output import print_result


@dataclass
class BackendHealth:
    name: str
    status: str  # ready | partial | runtime only | missing
    works: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # each: what does not work, then the fix


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def execute(args) -> int:
    from edge_pipeline.backends.registry import BACKENDS
    from edge_pipeline.benchmarking.host import fingerprint
    from edge_pipeline.engine.versions import tool_versions

    host = fingerprint()
    backends = [backend_health(name) for name in BACKENDS]
    versions = tool_versions()
    torch_missing = [] if "torch" in versions else [f"torch: missing; export, distill and prune need: {torch_hint()}"]
    if args.json:
        print_result(json.dumps({"host": host, "backends": [asdict(b) for b in backends], "versions": versions,
                          "problems": torch_missing}, indent=2, default=str))
        return 0
    print_result(f"host: {host['cpu_model']} "
          f"({host['usable_cpus']} usable cpus, flags: {', '.join(host['cpu_flags']) or '-'})")
    for health in backends:
        print_result(f"{health.name:<12} {health.status}")
        for part in health.works:
            print_result(f"{'':<14}works:   {part}")
        for part in health.missing:
            print_result(f"{'':<14}missing: {part}")
    print_result("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    for line in torch_missing:
        print_result(line)
    return 0


def backend_health(name: str) -> BackendHealth:
    from edge_pipeline.backends.registry import descriptor, device_install_hint, probe, probe_optional_features

    row = descriptor(name)
    makes, reason = probe(name)
    runs = installed(row.runtime_module)
    health = BackendHealth(name, "missing")
    if makes:
        health.works.append(f"make {', '.join(f.kind for f in row.formats)} artifacts")
    else:
        health.missing.append(f"making artifacts: {reason}")
    covered = any(row.runtime_module in feature.modules for feature in row.optional_features)
    if runs:
        health.works.append(f"benchmark its artifacts ({row.runtime_module})")
    elif not (makes and covered):  # an optional feature already says what the runtime adds and how to get it
        health.missing.append(f"benchmarking: {row.runtime_module} not installed; fix: {device_install_hint(name)}")
    for feature, available, status in probe_optional_features(name) if makes else []:
        (health.works if available else health.missing).append(feature if available else f"{feature}: {status}")
    if makes:
        health.status = "partial" if health.missing else "ready"
    elif runs:
        health.status = "runtime only"
    return health


def torch_hint() -> str:
    """The install line that fits this install: a checkout pins through its constraints file."""
    constraints = Path(__file__).resolve().parents[2] / "constraints.txt"
    pin = f" -c {constraints}" if constraints.is_file() else ""
    return f"pip install 'edge-pipeline[export]'{pin}"


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install is as absent as a missing one
        return False
