"""ORT INT8 vs ORT FP32 on the default model: medians measured side by side in one run.

    .venv/bin/python benchmarks/ort_int8_speedup.py [--bundle DIR] [--rounds 3]

Without --bundle it runs the embedded default first (cached stages are re-used). Each round times
FP32 then INT8 in fresh worker processes (batch 1, 2 threads); alternating rounds keep slow drift
of the machine from favouring either. Accuracy comes from the bundle's report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from edge_pipeline import api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--target", default="x86-cpu-onnxruntime")
    args = parser.parse_args()
    bundle = args.bundle or api.run(out=Path(tempfile.mkdtemp(prefix="ep-bench-")) / "bundle")
    report = json.loads((bundle / "report.json").read_text())
    rows = {r["precision"]: r for r in report["results"]
            if r["target"] == args.target and r["model"] == "teacher" and r["batch_size"] == 1}
    paths = [bundle / rows["fp32"]["artifact"], bundle / rows["int8"]["artifact"]]
    medians: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(args.rounds):
        result = api.benchmark(paths, batch_sizes=[1], threads=[2], warmup=50, iterations=args.iterations)
        for precision, timed in zip(("fp32", "int8"), result["results"]):
            medians[precision].append(timed["configs"][0]["latency_ms"]["p50"])
    fp32_ms = statistics.median(medians["fp32"])
    print(f"ONNX Runtime, {args.target}, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs")
    print(f"{'artifact':<8} {'p50 ms':>8} {'rounds (p50 ms)':<28} {'speedup':>8} {'accuracy %':>10}")
    for precision in ("fp32", "int8"):
        p50 = statistics.median(medians[precision])
        spread = ", ".join(f"{m:.3f}" for m in medians[precision])
        print(f"{precision:<8} {p50:>8.3f} {spread:<28} {fp32_ms / p50:>7.2f}x {rows[precision]['accuracy']:>10.2f}")


if __name__ == "__main__":
    main()
