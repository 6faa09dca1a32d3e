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
    args = arguments(__doc__).parse_args()
    bundle, rows = bundle_rows(args)
    labels = [f"{r['model']} {r['precision']}" for r in rows]
    medians = dict(zip(labels, round_medians(bundle, rows, args.rounds, args.iterations), strict=True))
    base = statistics.median(medians["teacher fp32"])
    teacher_macs = next(r["macs"] for r in rows if r["model"] == "teacher")
    teacher_accuracy = next(r["accuracy"] for r in rows if r["model"] == "teacher" and r["precision"] == "fp32")
    print(f"ONNX Runtime, {args.target}, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs")
    print(f"{'artifact':<22} {'MACs/teacher':>12} {'p50 ms':>8} {'vs teacher fp32':>15} {'accuracy %':>10} "
          f"{'d acc':>6}  rounds (p50 ms)")
    spreads = {k: ", ".join(f"{m:.3f}" for m in v) for k, v in medians.items()}
    for label, row in zip(labels, rows, strict=True):
        p50 = statistics.median(medians[label])
        print(f"{label:<22} {row['macs'] / teacher_macs:>12.3f} {p50:>8.3f} {base / p50:>14.2f}x "
              f"{row['accuracy']:>10.2f} {row['accuracy'] - teacher_accuracy:>+6.2f}  {spreads[label]}")


def arguments(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--target", default="x86-cpu-onnxruntime")
    return parser


def bundle_rows(args) -> tuple[Path, list[dict]]:
    """The bundle (the embedded default run first without --bundle) and its batch-1, 2-thread rows on the target."""
    bundle = args.bundle or api.run(out=Path(tempfile.mkdtemp(prefix="ep-bench-")) / "bundle")
    report = json.loads((bundle / "report.json").read_text())
    rows = [r for r in report["results"] if r["target"] == args.target and r["batch_size"] == 1 and r["threads"] == 2]
    return bundle, rows


def round_medians(bundle: Path, rows: list[dict], rounds: int, iterations: int) -> list[list[float]]:
    """Per row, the p50 of each round; every round times all rows in turn, each in a fresh process."""
    result = api.benchmark([bundle / r["artifact"] for r in rows], batch_sizes=[1], threads=[2], warmup=50,
                           iterations=iterations, rounds=rounds)
    configs = [timed["configs"][0] for timed in result["results"]]
    return [[r["p50"] for r in config.get("rounds", [config["latency_ms"]])] for config in configs]


if __name__ == "__main__":
    main()
