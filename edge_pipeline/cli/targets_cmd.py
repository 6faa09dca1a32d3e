"""List the target profiles with their backend, precisions and the CPU features each is for, marking
those this host lacks and, with '*', the profile of each family that matches this CPU (what
`device.features: auto` picks here; `--json` for one JSON list).

Built-in profiles ship with the package; --targets-dir DIR and $EDGE_PIPELINE_TARGETS (folders
separated by the path separator) add yours, which shadow a built-in of the same name.
"""

from __future__ import annotations

import json

from edge_pipeline.cli.common import add_targets_dir_argument
from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    add_targets_dir_argument(parser)


def execute(args) -> int:
    from edge_pipeline.benchmarking.host import host_arch, missing_cpu_features
    from edge_pipeline.config.cpu_match import host_matches
    from edge_pipeline.config.recipes import available_targets, is_builtin_target
    from edge_pipeline.engine.run import resolve_target

    paths = available_targets()
    targets = {name: resolve_target(name) for name in paths}
    matching = host_matches()

    def lacking(target) -> list[str] | None:
        # Another instruction set's features say nothing about this host: only same-arch profiles.
        return missing_cpu_features(target.device.features) if target.device.arch == host_arch() else None

    if args.json:
        print_result(json.dumps([{"name": name, "backend": t.backend, "precisions": list(t.precisions),
                                  "arch": t.device.arch, "features": list(t.device.features),
                                  "features_missing_here": lacking(t),
                                  "matches_this_host": name in matching, "picked": t.device.picked,
                                  "description": t.metadata.description.strip(), "file": str(paths[name]),
                                  "builtin": is_builtin_target(paths[name])}
                                 for name, t in targets.items()], indent=2))
        return 0
    for name, target in targets.items():
        summary = target.metadata.description.strip().split(".")[0]
        origin = "" if is_builtin_target(paths[name]) else f" [{paths[name]}]"
        missing = lacking(target)
        features = ",".join(target.device.features) or "-"
        if missing:
            features += f" (this host lacks {','.join(missing)})"
        marker = "*" if name in matching else " "
        picked = f"  [auto: {target.device.picked.split(': ', 1)[1]}]" if target.device.picked else ""
        print_result(f"{marker} {name:<28} backend={target.backend:<12} precisions={','.join(target.precisions):<12} "
                     f"features={features}  {summary}{origin}{picked}")
    if matching:
        print_result("* matches this host's CPU: the profile device.features: auto picks here")
    return 0
