"""Every model of a bundle (teacher, distilled student, pruned student) against the FP32 teacher,
timed side by side in one run on ONNX Runtime, with MACs and accuracy from the bundle's report.

    .venv/bin/python benchmarks/student_speedup.py [--bundle DIR] [--rounds 3]

Without --bundle it runs the embedded default first (cached stages are re-used). Each round times
all artifacts in fresh worker processes (batch 1, 2 threads), so slow drift of a shared machine
hits every artifact alike; the table shows the median over rounds and the speedup vs teacher FP32.
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
    rows = [r for r in report["results"] if r["target"] == args.target and r["batch_size"] == 1 and r["threads"] == 2]
    labels = [f"{r['model']} {r['precision']}" for r in rows]
    paths = [bundle / r["artifact"] for r in rows]
    medians: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(args.rounds):
        result = api.benchmark(paths, batch_sizes=[1], threads=[2], warmup=50, iterations=args.iterations)
        for label, timed in zip(labels, result["results"]):
            medians[label].append(timed["configs"][0]["latency_ms"]["p50"])
    base = statistics.median(medians["teacher fp32"])
    teacher_macs = next(r["macs"] for r in rows if r["model"] == "teacher")
    teacher_accuracy = next(r["accuracy"] for r in rows if r["model"] == "teacher" and r["precision"] == "fp32")
    print(f"ONNX Runtime, {args.target}, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs")
    print(f"{'artifact':<22} {'MACs/teacher':>12} {'p50 ms':>8} {'vs teacher fp32':>15} {'accuracy %':>10} {'d acc':>6}  rounds (p50 ms)")
    spreads = {k: ", ".join(f"{m:.3f}" for m in v) for k, v in medians.items()}
    for label, row in zip(labels, rows):
        p50 = statistics.median(medians[label])
        print(f"{label:<22} {row['macs'] / teacher_macs:>12.3f} {p50:>8.3f} {base / p50:>14.2f}x "
              f"{row['accuracy']:>10.2f} {row['accuracy'] - teacher_accuracy:>+6.2f}  {spreads[label]}")


if __name__ == "__main__":
    main()
