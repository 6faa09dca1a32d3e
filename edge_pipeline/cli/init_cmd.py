"""Write a starter recipe for your own model (and a calibration stub to replace with real samples).

  edge-pipeline init --factory mymodel.py:build --input-shape 1,3,224,224 [--input-name x] [--out recipe.yaml]
  edge-pipeline init --onnx model.onnx [--input-shape NAME=DIMS ...] [--out recipe.yaml]

A factory is built and run once on zeros to name its outputs; an ONNX file's inputs (names, dtypes,
dims; dynamic dims as named axes with a guessed size marked CONFIRM) and outputs are read from the
graph. Beside the recipe goes <recipe>.calibration.npz: RANDOM data of the right shapes, marked
REPLACE in the recipe. Targets are those whose backend works on this machine. Existing files are
never overwritten. Prints the recipe's path.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--factory", metavar="REF",
                        help="'file.py:function' or 'package.module:function' returning an nn.Module")
    source.add_argument("--onnx", type=Path, metavar="FILE", help="an ONNX file exported elsewhere")
    parser.add_argument("--input-shape", dest="input_shapes", action="append", default=[], metavar="[NAME=]DIMS",
                        help="batch first, e.g. 1,3,224,224; one per input as NAME=DIMS for several inputs "
                             "(with --onnx: fixes that input's dynamic dims)")
    parser.add_argument("--input-name", default=None, help="--factory with one input: its name (default: input)")
    parser.add_argument("--input-dtype", dest="input_dtypes", action="append", default=[], metavar="[NAME=]DTYPE",
                        help="--factory: float32 (default), int64, int32, float16, uint8 or bool; NAME=DTYPE per input")
    parser.add_argument("--out", type=Path, default=Path("recipe.yaml"),
                        help="the recipe to write (default: recipe.yaml); never overwritten")


def execute(args) -> int:
    import shlex

    from edge_pipeline.progress import progress
    from edge_pipeline.scaffold import init_recipe

    written = init_recipe(args.out, factory=args.factory, onnx=args.onnx, shapes=args.input_shapes,
                          dtypes=args.input_dtypes, input_name=args.input_name)
    progress("init", f"wrote {written.recipe} (targets: {', '.join(written.targets)})")
    progress("init", f"wrote {written.calibration}: RANDOM samples; replace them with real ones (see REPLACE)")
    # Quoted for the shell: a path with spaces or quotes pastes as one argument.
    progress("init", f"next: edge-pipeline run {shlex.quote(str(written.recipe))} --out bundle")
    print_result(written.recipe)
    return 0
