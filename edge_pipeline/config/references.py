"""Resolve a recipe's 'package.module:function' references (model factories, data providers, metrics).

Here, at the config layer, so that every layer that takes a user's function resolves it the same way.
A reference may also name a file, 'model.py:build' or './models/net.py:build', read relative to the
recipe's folder. Modules are looked up first in the recipe's folder and the current folder (as
`python script.py` would), so a `model.py` next to the recipe imports without PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from edge_pipeline.errors import EdgePipelineError, ModelLoadError


def import_callable(reference: str, what: str = "factory",
                    error: type[EdgePipelineError] = ModelLoadError) -> Callable:
    """The callable ``reference`` names; ``what`` is the recipe key named in errors (raised as ``error``)."""
    module_name, sep, attr = reference.rpartition(":")
    if not sep or not module_name or not attr:
        raise error(f"{what} '{reference}' must look like 'package.module:callable' or 'file.py:callable'")
    try:
        module = import_user_module(module_name)
    except FileNotFoundError as exc:
        raise error(f"{what} '{reference}': no file {exc.filename}; paths are read relative to the recipe's "
                    "folder") from exc
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
    user's code does; None where it cannot be read (an import error surfaces when the callable loads).
    Read from its file without importing it where the file can be found: a model module imports
    torch, which a cached re-run otherwise never needs."""
    import inspect
    import tokenize

    name = reference.rpartition(":")[0]
    path = _source_file(name)
    if path is not None:
        try:
            with tokenize.open(path) as fh:  # decoded as inspect.getsource reads it: the same text
                return fh.read()
        except (OSError, SyntaxError):
            pass
    try:
        return inspect.getsource(import_user_module(name))
    except Exception:  # noqa: BLE001 - any failure to import or read means: no source to key on
        return None


def _source_file(name: str) -> Path | None:
    """The .py file a module name or file reference resolves to, found without importing the module."""
    if name.endswith(_FILE_SUFFIX):
        return _user_file(name)
    _add_search_paths()
    try:
        spec = importlib.util.find_spec(name)  # imports the parent packages only
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(_FILE_SUFFIX) else None


_REFERENCE = re.compile(r"^[^\s:]+:[A-Za-z_]\w*$")


def referenced_sources(data: object) -> dict[str, str | None]:
    """Every 'module:function' string anywhere in ``data`` (a recipe as JSON) -> a digest of its
    module's source (None where it cannot be read): for keys that must change with the user's code."""
    found: dict[str, str | None] = {}
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, str) and _REFERENCE.match(item) and item not in found:
            source = module_source(item)
            found[item] = None if source is None else hashlib.sha256(source.encode()).hexdigest()
    return found


_FILE_SUFFIX = ".py"
_search_folders: list[Path] = []


def add_search_folder(folder: Path) -> None:
    """Look up users' modules and files in ``folder`` too (the loader adds the recipe's folder)."""
    folder = Path(folder).resolve()
    if folder not in _search_folders:
        _search_folders.insert(0, folder)


def import_user_module(name: str) -> ModuleType:
    if name.endswith(_FILE_SUFFIX):
        return _import_file(name)
    _add_search_paths()
    return importlib.import_module(name)


def _add_search_paths() -> None:
    for folder in [*_search_folders, Path.cwd()]:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))  # after site-packages: a user's file never shadows an installed package


def _user_file(name: str) -> Path | None:
    """``name`` (a relative .py path) in the recipe's folder or the current one, the first found."""
    return next((folder / name for folder in [*_search_folders, Path.cwd()] if (folder / name).is_file()), None)


def _import_file(name: str) -> ModuleType:
    path = _user_file(name)
    if path is None:
        raise FileNotFoundError(2, "no such file", name)
    path = path.resolve()
    # One module per file path, named after it, so two 'model.py' files in two recipes never collide.
    module_name = f"edge_pipeline_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
