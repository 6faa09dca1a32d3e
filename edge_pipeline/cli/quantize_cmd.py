"""Quantize an ONNX model to INT8 for a target, calibrated on .npz/.npy/image-folder data."""

from __future__ import annotations

from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("onnx", type=Path, help="FP32 ONNX model")
    parser.add_argument("--target", default="x86-cpu-onnxruntime", help="target profile (see `edge-pipeline targets`)")
    parser.add_argument("--calibration", type=Path, required=True, help=".npz (array 'x'), .npy, or image folder")
    parser.add_argument("--out", type=Path, default=Path("quantized"), help="output directory")
    parser.add_argument("--input-name", default=None, help="graph input to calibrate (default: the first)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="quantize.KEY=VALUE",
                        help="override a quantize setting, e.g. --set quantize.method=entropy")


def execute(args) -> int:
    from edge_pipeline import api

    print(api.quantize(args.onnx, args.target, args.calibration, args.out, args.overrides, args.input_name))
    return 0
