"""List the target profiles with their backend and precisions (`--json` for one JSON list)."""

from __future__ import annotations

import json

from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")


def execute(args) -> int:
    from edge_pipeline.config.recipes import available_targets
    from edge_pipeline.engine.run import resolve_target as load_target

    targets = [load_target(name) for name in available_targets()]
    if args.json:
        print_result(json.dumps([{"name": name, "backend": t.backend, "precisions": list(t.precisions),
                           "description": t.metadata.description.strip()}
                          for name, t in zip(available_targets(), targets, strict=True)], indent=2))
        return 0
    for name, target in zip(available_targets(), targets, strict=True):
        summary = target.metadata.description.strip().split(".")[0]
        print_result(f"{name:<28} backend={target.backend:<12} precisions={','.join(target.precisions):<12} {summary}")
    return 0
