"""Quantize an ONNX model to INT8 for a target, calibrated on .npz/.npy/image-folder data.

--out must be a new folder, an empty one, or a folder edge-pipeline wrote (replaced whole); anything
else is refused with exit code 9 before quantizing, and left untouched.
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.cli.common import add_targets_dir_argument
from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    parser.add_argument("onnx", type=Path, help="FP32 ONNX model")
    parser.add_argument("--target", default="x86-cpu-onnxruntime", help="target profile (see `edge-pipeline targets`)")
    parser.add_argument("--calibration", type=Path, required=True,
                        help=".npz (one array per input name, or 'x' for one input), .npy, or image folder")
    parser.add_argument("--out", type=Path, default=Path("quantized"),
                        help="output folder: new, empty, or one edge-pipeline wrote (replaced)")
    parser.add_argument("--input-name", default=None, help="check that the model takes this input (one-input models)")
    parser.add_argument("--input-shape", dest="input_shapes", action="append", default=[], metavar="NAME=DIMS",
                        help="fix an input's dynamic dims, e.g. images=1,3,640,640 (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a quantize setting or a backend option of the target, e.g. "
                             "--set quantize.method=entropy, --set options.model_type=transformer (repeatable)")
    add_targets_dir_argument(parser)


def execute(args) -> int:
    from edge_pipeline import api
    from edge_pipeline.standalone import parse_input_shape

    shapes = dict(parse_input_shape(text) for text in args.input_shapes)
    print_result(api.quantize(args.onnx, args.target, args.calibration, args.out, args.overrides, args.input_name,
                              shapes))
    return 0
