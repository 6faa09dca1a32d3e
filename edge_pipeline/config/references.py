"""Resolve a recipe's 'package.module:function' references (model factories, data providers, metrics).

Here, at the config layer, so that every layer that takes a user's function resolves it the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from edge_pipeline.errors import EdgePipelineError, ModelLoadError


def import_callable(reference: str, what: str = "factory",
                    error: type[EdgePipelineError] = ModelLoadError) -> Callable:
    """The callable ``reference`` names; ``what`` is the recipe key named in errors (raised as ``error``)."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise error(f"{what} '{reference}' must look like 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is the user's module failing
        raise error(
            f"{what} '{reference}' does not import ({exc.__class__.__name__}: {exc}); "
            "check the module path and that its package is installed"
        ) from exc
    target = getattr(module, attr, None)
    if not callable(target):
        raise error(f"{what} '{reference}': module '{module_name}' has no callable '{attr}'")
    return target


def module_source(reference: str) -> str | None:
    """The source text of the module ``reference`` names, for cache keys that must change when the
    user's code does; None where it cannot be read (an import error surfaces when the callable loads)."""
    import inspect

    try:
        return inspect.getsource(importlib.import_module(reference.partition(":")[0]))
    except Exception:  # noqa: BLE001 - any failure to import or read means: no source to key on
        return None
