"""Time artifact files on this machine (.onnx, .ort, OpenVINO .xml, TensorRT .engine).

Needs only numpy and the artifact's runtime: no torch, no export tooling.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge_pipeline.cli.common import int_list


def add_arguments(parser) -> None:
    parser.add_argument("artifacts", nargs="+", type=Path, help="model files to time")
    parser.add_argument("--batch-sizes", type=int_list, default=[1], help="comma-separated, e.g. 1,8")
    parser.add_argument("--threads", type=int_list, default=[2], help="comma-separated, e.g. 1,2,4")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs first")
    parser.add_argument("--iterations", type=int, default=200, help="timed runs per configuration")
    parser.add_argument("--data", type=Path, default=None, help="inputs to time with (.npz with 'x' or .npy)")
    parser.add_argument("--out", type=Path, default=None, help="write results JSON here")


def execute(args) -> int:
    from edge_pipeline import api

    report = api.benchmark(args.artifacts, args.out, args.data, args.batch_sizes, args.threads, args.warmup, args.iterations)
    for result in report["results"]:
        for config in result["configs"]:
            if "skipped" in config:
                print(f"{result['artifact']}  batch {config['batch_size']}  threads {config['threads']}  skipped: {config['skipped']}")
                continue
            lat = config["latency_ms"]
            print(
                f"{result['artifact']}  batch {config['batch_size']}  threads {config['threads']}  "
                f"p50 {lat['p50']:.3f} ms  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  "
                f"{config['throughput_per_s']:.0f}/s"
            )
    if args.out is None:
        return 0
    print(json.dumps({"written": str(args.out)}))
    return 0
