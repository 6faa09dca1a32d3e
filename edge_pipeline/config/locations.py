"""Where the package's data and the target profiles are, and where the cache goes.

Built-in target profiles, recipes and the default recipe's data ship inside the package (so a
pip install works from any folder). Users add target folders with ``--targets-dir`` or
$EDGE_PIPELINE_TARGETS; a profile there shadows a built-in of the same name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from edge_pipeline.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TARGETS_ENV = "EDGE_PIPELINE_TARGETS"


def builtin_targets_dir() -> Path:
    return PACKAGE_DIR / "targets"


def default_recipe_path() -> Path:
    return PACKAGE_DIR / "recipes" / "default.yaml"


def default_recipe_base() -> Path:
    """The folder the embedded default's data paths are relative to (its data ships in the package)."""
    return PACKAGE_DIR


def user_targets_dirs() -> list[Path]:
    """$EDGE_PIPELINE_TARGETS's folders in order (``--targets-dir`` ones are put first in it)."""
    folders = [Path(entry).expanduser() for entry in os.environ.get(TARGETS_ENV, "").split(os.pathsep) if entry]
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{TARGETS_ENV} names {folder}, which is not a folder; fix or unset it")
    return folders


def targets_dirs() -> list[Path]:
    """Folders searched for target profiles, first match wins: the user's, then the built-ins."""
    return [*user_targets_dirs(), builtin_targets_dir()]


@contextlib.contextmanager
def extra_targets_dirs(folders: Sequence[Path]) -> Iterator[None]:
    """Search ``folders`` first while the block runs. They go into $EDGE_PIPELINE_TARGETS (restored
    after) rather than a module variable, so processes the command starts (torchrun ranks,
    workers) find the same profiles."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise ConfigError(f"--targets-dir {folder} is not a folder; pass a folder of target YAML files")
    previous = os.environ.get(TARGETS_ENV)
    if folders:
        entries = [str(Path(folder).resolve()) for folder in folders] + ([previous] if previous else [])
        os.environ[TARGETS_ENV] = os.pathsep.join(entries)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TARGETS_ENV, None)
        else:
            os.environ[TARGETS_ENV] = previous


def cache_root() -> Path:
    env = os.environ.get("EDGE_PIPELINE_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return (base / "edge_pipeline").resolve()
