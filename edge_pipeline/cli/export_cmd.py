"""Export the recipe's model to ONNX, checked by onnx.checker and numerically against PyTorch.

--out must be a new folder, an empty one, or a folder edge-pipeline wrote (replaced whole); anything
else is refused with exit code 9 before the export runs, and left untouched.
"""

from __future__ import annotations

from edge_pipeline.cli.common import add_recipe_arguments
from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    add_recipe_arguments(parser, "export")


def execute(args) -> int:
    from edge_pipeline import api

    print_result(api.export(args.recipe, args.out, args.overrides, args.cache_dir))
    return 0
