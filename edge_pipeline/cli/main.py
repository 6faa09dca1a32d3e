"""`edge-pipeline` entry point: builds the parser from the command registry and maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from edge_pipeline import __version__
from edge_pipeline.cli.output import results_only_on_stdout
from edge_pipeline.config.locations import extra_targets_dirs
from edge_pipeline.errors import INTERRUPTED_EXIT_CODE, EdgePipelineError
from edge_pipeline.progress import set_quiet, set_verbose

# Subcommand name -> module. Each module has add_arguments(parser) and execute(args) -> int,
# and its docstring is the help text. Modules import heavy packages only inside execute().
COMMANDS = {
    "run": "edge_pipeline.cli.run_cmd",
    "export": "edge_pipeline.cli.export_cmd",
    "quantize": "edge_pipeline.cli.quantize_cmd",
    "benchmark": "edge_pipeline.cli.benchmark_cmd",
    "targets": "edge_pipeline.cli.targets_cmd",
    "doctor": "edge_pipeline.cli.doctor_cmd",
    "compare": "edge_pipeline.cli.compare_cmd",
    "cache": "edge_pipeline.cli.cache_cmd",
    "init": "edge_pipeline.cli.init_cmd",
    "config": "edge_pipeline.cli.config_cmd",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-pipeline",
        description="Turn a trained PyTorch model into measured, device-ready edge artifacts.",
    )
    parser.add_argument("--version", action="version", version=f"edge-pipeline {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on error, print the full traceback with its causes (also EDGE_PIPELINE_DEBUG=1)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress and no closing summary on stderr; errors still print")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="progress per step as well as per stage (e.g. each step re-used from the cache)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        command = sub.add_parser(name, help=doc.splitlines()[0] if doc else None, description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(execute=module.execute)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        set_quiet(True)
    set_verbose(args.verbose)
    debug = args.debug or os.environ.get("EDGE_PIPELINE_DEBUG", "") not in ("", "0")
    try:
        # --targets-dir folders are searched while the command runs (cli/common.py adds the flag).
        with results_only_on_stdout(), extra_targets_dirs(getattr(args, "targets_dirs", [])):
            return int(args.execute(args) or 0)
    except EdgePipelineError as exc:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; finished stages stay cached, nothing half-written was kept", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    finally:
        if args.quiet:  # in-process callers (the API, tests) get their progress back
            set_quiet(False)
        set_verbose(False)


if __name__ == "__main__":
    raise SystemExit(main())
