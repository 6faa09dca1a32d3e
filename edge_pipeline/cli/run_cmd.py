"""Run a recipe's stages and write one bundle (the embedded default when no RECIPE is given).

Progress goes to stderr; the bundle path is printed on stdout at the end.

--out must be a new folder, an empty one, or a bundle edge-pipeline wrote (it carries a
.edge-pipeline-bundle marker and is replaced whole). Anything else (a folder of your files, a
file, /, the current folder) is refused with exit code 9 before any stage runs, and left untouched.

A target whose quantize or benchmark work fails costs only itself: the bundle is written for the
other targets (its reports and manifest list the failed ones with their errors), its path is
printed as usual, and the run exits with code 11. --fail-fast stops at the first failure instead,
writing nothing.
"""

from __future__ import annotations

from edge_pipeline.cli.common import add_recipe_arguments
from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    add_recipe_arguments(parser, "bundle")
    parser.add_argument("--no-cache", action="store_true", help="re-run every stage even if cached")
    parser.add_argument("--fail-fast", action="store_true",
                        help="stop at the first target that fails and write nothing (default: write the bundle "
                             "for the other targets and exit with code 11)")


def execute(args) -> int:
    from edge_pipeline import api
    from edge_pipeline.errors import PartialRunError

    try:
        bundle = api.run(args.recipe, args.out, args.overrides, args.cache_dir, use_cache=not args.no_cache,
                         fail_fast=args.fail_fast)
    except PartialRunError as partial:
        # The bundle is real: its path is the result as for any run; main prints the one-line error.
        _finish(args, partial.bundle)
        raise
    _finish(args, bundle)
    return 0


def _finish(args, bundle) -> None:
    if not getattr(args, "quiet", False):
        _print_summary(bundle)
    print_result(bundle)


def _print_summary(bundle) -> None:
    import sys

    from edge_pipeline.reports.terminal import bundle_results_table

    table = bundle_results_table(bundle)
    if table:
        print("\n".join(["", *table, f"(report: {bundle / 'report.html'})"]), file=sys.stderr)
