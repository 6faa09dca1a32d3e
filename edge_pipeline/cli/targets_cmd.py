"""List the target profiles in targets/ with their backend and precisions."""

from __future__ import annotations


def add_arguments(parser) -> None:
    pass


def execute(args) -> int:
    from edge_pipeline.config.recipes import available_targets
    from edge_pipeline.engine.run import resolve_target as load_target

    for name in available_targets():
        target = load_target(name)
        summary = target.metadata.description.strip().split(".")[0]
        print(f"{name:<28} backend={target.backend:<12} precisions={','.join(target.precisions):<12} {summary}")
    return 0
