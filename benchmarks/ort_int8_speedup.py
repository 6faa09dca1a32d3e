"""ORT INT8 vs ORT FP32 on the default model: medians measured side by side in one run.

    .venv/bin/python benchmarks/ort_int8_speedup.py [--bundle DIR] [--rounds 3]

Without --bundle it runs the embedded default first (cached stages are re-used). Each round times
FP32 then INT8 in fresh worker processes (batch 1, 2 threads); rounds taken in turn keep slow drift
of the machine from favouring either. Accuracy comes from the bundle's report.
"""

from __future__ import annotations

import statistics

from student_speedup import arguments, bundle_rows, round_medians  # the script beside this one


def main() -> None:
    args = arguments(__doc__).parse_args()
    bundle, target_rows = bundle_rows(args)
    teacher = {r["precision"]: r for r in target_rows if r["model"] == "teacher"}
    rows = [teacher["fp32"], teacher["int8"]]
    medians = dict(zip(("fp32", "int8"), round_medians(bundle, rows, args.rounds, args.iterations), strict=True))
    fp32_ms = statistics.median(medians["fp32"])
    print(f"ONNX Runtime, {args.target}, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs")
    print(f"{'artifact':<8} {'p50 ms':>8} {'rounds (p50 ms)':<28} {'speedup':>8} {'accuracy %':>10}")
    for precision, row in zip(("fp32", "int8"), rows, strict=True):
        p50 = statistics.median(medians[precision])
        spread = ", ".join(f"{m:.3f}" for m in medians[precision])
        print(f"{precision:<8} {p50:>8.3f} {spread:<28} {fp32_ms / p50:>7.2f}x {row['accuracy']:>10.2f}")


if __name__ == "__main__":
    main()
