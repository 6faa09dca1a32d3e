"""Inspect or empty the stage cache: `cache info` (entries and size per stage, corrupt entries, temp
folders) and `cache clean` (all entries, one stage's, or those unused for some days).

Only a folder that is an edge_pipeline cache is cleaned, and in it only what the cache made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_pipeline.cli.output import print_result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="the cache folder, entries and size per stage, corrupt entries")
    info.add_argument("--verify", action="store_true", help="also check every file's sha256 (reads every file)")
    clean = actions.add_parser("clean", help="remove entries (all, --stage NAME or --older-than DAYS)")
    clean.add_argument("--stage", default=None, metavar="NAME", help="only this stage's entries, e.g. quantize")
    clean.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="only entries no run has used for DAYS days")
    for action in (info, clean):
        action.add_argument("--cache-dir", type=Path, default=None,
                            help="stage cache (default: $EDGE_PIPELINE_CACHE, else ~/.cache/edge_pipeline)")


def execute(args) -> int:
    from edge_pipeline.config.locations import cache_root

    root = Path(args.cache_dir).expanduser().resolve() if args.cache_dir else cache_root()
    if root.exists() and not root.is_dir():
        from edge_pipeline.errors import OutputError

        raise OutputError(f"--cache-dir {root} is a file, not a folder; pass the folder given to "
                          "`edge-pipeline run --cache-dir`")
    return _info(root, args.verify) if args.action == "info" else _clean(root, args.stage, args.older_than)


def _info(root: Path, verify: bool) -> int:
    from edge_pipeline.artifacts.cache_admin import cache_info

    info = cache_info(root, verify=verify)
    print_result(f"cache: {root}")
    if not info.exists:
        print_result("no stage entries (nothing cached here yet)")
        return 0
    print_result(f"{'stage':<14} {'entries':>8} {'size':>10}")
    for stage in info.stages:
        print_result(f"{stage.name:<14} {stage.entries:>8} {_size(stage.size_bytes):>10}")
    total = sum(s.size_bytes for s in info.stages)
    print_result(f"{'total':<14} {sum(s.entries for s in info.stages):>8} {_size(total):>10}")
    for name, problem in info.corrupt:
        print_result(f"corrupt: {name} ({problem}); the next run rebuilds it")
    for name, stale in info.temps:
        state = "left by a killed run; cache clean removes it" if stale else "a run in progress"
        print_result(f"partial: {name} ({state})")
    return 0


def _clean(root: Path, stage: str | None, older_than: float | None) -> int:
    from edge_pipeline.artifacts.cache_admin import clean_cache

    result = clean_cache(root, stage=stage, older_than_days=older_than)
    print_result(f"cache: {root}")
    print_result(f"removed {result.entries} entries ({_size(result.size_bytes)}) and {result.temps} stale partial "
                 "folders")
    for name, why in result.busy:
        print_result(f"kept {name}: {why}")
    return 0


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
