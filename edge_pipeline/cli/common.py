"""Arguments several subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_pipeline.config.arguments import int_list

__all__ = ["add_recipe_arguments", "add_set_argument", "add_targets_dir_argument", "int_list"]


def add_recipe_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("recipe", nargs="?", type=Path, help="recipe YAML (default: the embedded digits recipe)")
    parser.add_argument("--out", type=Path, default=Path(default_out),
                        help=f"bundle directory (default: {default_out})")
    add_set_argument(parser)
    parser.add_argument("--cache-dir", type=Path, default=None, help="stage cache (default: ~/.cache/edge_pipeline)")
    add_targets_dir_argument(parser)


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a recipe value, e.g. --set quantize.method=entropy (repeatable); "
                             "`edge-pipeline config show` prints every key and its value")


def add_targets_dir_argument(parser: argparse.ArgumentParser) -> None:
    # cli/main.py searches these folders while the command runs (locations.extra_targets_dirs).
    parser.add_argument("--targets-dir", dest="targets_dirs", action="append", type=Path, default=[],
                        metavar="DIR", help="also look for target profiles (NAME.yaml) in DIR, before the "
                        "built-ins and $EDGE_PIPELINE_TARGETS (repeatable)")
