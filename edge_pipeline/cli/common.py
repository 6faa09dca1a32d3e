"""Arguments several subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_pipeline.config.arguments import int_list

__all__ = ["add_recipe_arguments", "int_list"]


def add_recipe_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("recipe", nargs="?", type=Path, help="recipe YAML (default: the embedded digits recipe)")
    parser.add_argument("--out", type=Path, default=Path(default_out),
                        help=f"bundle directory (default: {default_out})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a recipe value, e.g. --set quantize.method=entropy (repeatable)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="stage cache (default: ~/.cache/edge_pipeline)")
