"""A recipe's stage list, checked against the stage descriptors before any work starts."""

from __future__ import annotations

from edge_pipeline.errors import ConfigError
from edge_pipeline.stages.base import RECIPE_MODEL, StageDescriptor
from edge_pipeline.stages.registry import STAGES, stage

PACKAGE = "package"


def plan_stages(names: list[str]) -> list[StageDescriptor]:
    """The stages to run, in order, with 'package' last; any misuse is a one-line ConfigError."""
    if not names:
        raise ConfigError(
            f"recipe 'stages' is empty; list the stages to run, e.g. {valid_order(['export', 'quantize', 'benchmark'])}"
        )
    descriptors = [stage(name) for name in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(
            f"recipe 'stages' lists {', '.join(duplicated)} more than once; a valid order: {valid_order(names)}"
        )
    if names[-1] != PACKAGE:
        descriptors.append(stage(PACKAGE))
    _check_order(descriptors, names)
    _check_inputs(descriptors, names)
    return descriptors


def valid_order(names: list[str]) -> str:
    """The listed stages in canonical order, e.g. '[export, quantize, benchmark]'."""
    wanted = set(names)
    return "[" + ", ".join(n for n in STAGES if n in wanted and n != PACKAGE) + "]"


def _check_order(descriptors: list[StageDescriptor], names: list[str]) -> None:
    for index, earlier in enumerate(descriptors):
        for later in descriptors[index + 1 :]:
            if later.name not in earlier.followers:
                raise ConfigError(
                    f"recipe 'stages': '{later.name}' cannot come after '{earlier.name}'; "
                    f"a valid order: {valid_order(names)}"
                )


def _check_inputs(descriptors: list[StageDescriptor], names: list[str]) -> None:
    available = {RECIPE_MODEL}
    for descriptor in descriptors:
        missing = [role for role in descriptor.consumes if role not in available]
        if missing:
            makers = [s.name for s in STAGES.values() if missing[0] in s.produces]
            raise ConfigError(
                f"recipe 'stages': '{descriptor.name}' needs {missing[0]}, which {' or '.join(makers)} makes; "
                f"a valid order: {valid_order([*names, *makers[:1]])}"
            )
        available.update(descriptor.produces)
