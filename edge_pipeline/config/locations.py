"""Where the project's data folders are: next to the package in a checkout, else $EDGE_PIPELINE_HOME."""

from __future__ import annotations

import os
from pathlib import Path

from edge_pipeline.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    env = os.environ.get("EDGE_PIPELINE_HOME")
    candidates = [Path(env)] if env else []
    candidates += [PACKAGE_DIR.parent, Path.cwd()]
    for candidate in candidates:
        if (candidate / "targets").is_dir():
            return candidate.resolve()
    raise ConfigError(
        "cannot find the 'targets/' folder; run from a checkout of edge_pipeline "
        "or set EDGE_PIPELINE_HOME to the folder that holds targets/ and calibration_data/"
    )


def targets_dir() -> Path:
    return project_root() / "targets"


def default_recipe_path() -> Path:
    return PACKAGE_DIR / "recipes" / "default.yaml"


def cache_root() -> Path:
    env = os.environ.get("EDGE_PIPELINE_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return (base / "edge_pipeline").resolve()
