"""Say which backends work on this machine, and which pip extra installs the missing ones."""

from __future__ import annotations


def add_arguments(parser) -> None:
    pass


def execute(args) -> int:
    from edge_pipeline.backends.registry import BACKENDS, probe, probe_optional_features
    from edge_pipeline.benchmarking.host import fingerprint
    from edge_pipeline.engine.versions import tool_versions

    host = fingerprint()
    print(f"host: {host['cpu_model']} "
          f"({host['usable_cpus']} usable cpus, flags: {', '.join(host['cpu_flags']) or '-'})")
    for name in BACKENDS:
        ok, reason = probe(name)
        print(f"{name:<12} {'ok' if ok else 'missing'}{'' if ok else ': ' + reason}")
        for feature, _, status in probe_optional_features(name) if ok else []:
            print(f"{'':<12}   {feature}: {status}")
    versions = tool_versions()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if "torch" not in versions:
        print("torch: missing; export/distill/prune need: pip install 'edge-pipeline[export]' -c constraints.txt")
    return 0
