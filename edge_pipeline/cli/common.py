"""Arguments several subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_recipe_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("recipe", nargs="?", type=Path, help="recipe YAML (default: the embedded digits recipe)")
    parser.add_argument("--out", type=Path, default=Path(default_out), help=f"bundle directory (default: {default_out})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a recipe value, e.g. --set quantize.method=entropy (repeatable)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="stage cache (default: ~/.cache/edge_pipeline)")


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers, e.g. 1,8") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' must list positive integers, e.g. 1,8")
    return values
