"""OpenVINO: our benchmark worker vs OpenVINO's own benchmark_app on the same IRs, side by side.

    .venv/bin/python benchmarks/openvino_vs_benchmark_app.py [--bundle DIR] [--model teacher] [--rounds 15]
        [--iterations 500]

Without --bundle it runs the embedded default recipe on the x86-cpu-openvino target first (cached
stages are re-used). For each of the model's rows (--model, the teacher by default: FP32 IR with
the f32 hint, FP32 IR with the bf16 hint, INT8 IR) every round times the IR once with the
pipeline's worker (a fresh process, exactly as the benchmark stage does) and once with
``benchmark_app`` (sync API, batch 1, the same compile properties passed through -load_config,
inference-only mode), alternating which goes first so slow drift of a shared machine favours
neither. Printed: both medians (median over rounds of each round's p50), their ratio, the median of
per-round ratios (the two measurements of a round are taken back to back, so they share the load of
that moment), the ratio of each tool's best round (load on a shared machine only ever adds
latency), and INT8 / bf16 speedups over the f32 baseline by each tool. Our worker also reads
OpenVINO's own timer of each call (the request's ``latency``, what benchmark_app reports): ours
minus that is the cost of the Python call. That timer is the report's p50 for OpenVINO rows, so its
ratio to benchmark_app is printed too, over the medians and per round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from ov_benchmark_app import benchmark_app_median  # the module beside this script

from edge_pipeline import api
from edge_pipeline.backends.openvino.options import parse_options
from edge_pipeline.backends.openvino.runner import compile_config
from edge_pipeline.benchmarking.harness import run_worker
from edge_pipeline.config.recipes import load_target

ROWS = (("fp32", "f32"), ("fp32", "bf16"), ("int8", "f32"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="a bundle with x86-cpu-openvino rows")
    parser.add_argument("--target", default="x86-cpu-openvino")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="teacher", help="the bundle's model: teacher, student, student-pruned")
    args = parser.parse_args()
    bundle = args.bundle or api.run(
        out=Path(tempfile.mkdtemp(prefix="ep-ov-bench-")) / "bundle", overrides=[f"targets=[{args.target}]"]
    )
    report = json.loads((bundle / "report.json").read_text())
    rows = model_rows(report, args.target, args.model)
    settings = load_target(args.target).options
    spec = one_input(json.loads((bundle / "manifest.json").read_text())["recipe"]["snapshot"])
    ours: dict[tuple, list[float]] = {key: [] for key in rows}
    ours_clock: dict[tuple, list[float]] = {key: [] for key in rows}  # OpenVINO's timer, read by our worker
    theirs: dict[tuple, list[float]] = {key: [] for key in rows}
    with tempfile.TemporaryDirectory(prefix="ep-ov-vs-ba-") as tmp:
        for round_index in range(args.rounds):
            for key, row in rows.items():
                path = bundle / row["artifact"]
                for tool in ("ours", "benchmark_app") if round_index % 2 == 0 else ("benchmark_app", "ours"):
                    if tool == "ours":
                        wall, clock = our_median(path, key[1], settings, args, spec, Path(tmp))
                        ours[key].append(wall)
                        ours_clock[key].append(clock)
                    else:
                        theirs[key].append(app_median(path, key[1], settings, args, spec, Path(tmp)))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    print_table(rows, ours, ours_clock, theirs, args)


def one_input(snapshot: dict) -> dict:
    """The recipe's input spec: ``input``, or the one entry of ``inputs`` (realsize.py's bundles)."""
    if snapshot.get("input"):
        return snapshot["input"]
    inputs = snapshot.get("inputs") or []
    if len(inputs) != 1:
        raise SystemExit(f"this script times one-input models; the bundle's recipe has {len(inputs)} inputs")
    return inputs[0]


def model_rows(report: dict, target: str, model: str) -> dict[tuple, dict]:
    found = {
        (r["precision"], r["runtime_variant"]): r
        for r in report["results"]
        if r["target"] == target and r["model"] == model and r["batch_size"] == 1
    }
    return {key: found[key] for key in ROWS if key in found}


def our_median(path: Path, variant: str, settings: dict, args, spec: dict, tmp: Path) -> float:
    job = {
        "backend": "openvino",
        "artifact": str(path),
        "variant": variant,
        "settings": settings,
        "batch_sizes": [1],
        "threads": [args.threads],
        "warmup": 50,
        "iterations": args.iterations,
        "time_budget_s": None,
        "eval_batch_size": 64,
        "sample_shape": spec["shape"][1:],
        "dtype": spec["dtype"],
    }
    (config,) = run_worker(job, tmp / "ours")["configs"]
    return config["call_clock_ms"]["p50"], config["latency_ms"]["p50"]  # ours, OpenVINO's timer


def app_median(path: Path, variant: str, settings: dict, args, spec: dict, tmp: Path) -> float:
    """benchmark_app with the same compile properties our runner sets (read back from one function)."""
    config = compile_config(parse_options(settings, "benchmark script"), args.threads, variant)
    batch_one = ",".join(str(d) for d in [1, *spec["shape"][1:]])
    return benchmark_app_median(path, config, f"{spec['name']}[{batch_one}]", tmp, args.iterations)


def print_table(rows: dict, ours: dict, ours_clock: dict, theirs: dict, args) -> None:
    print(f"\nOpenVINO {args.target}, {args.model}, batch 1, {args.threads} threads, sync latency mode, "
          f"{args.rounds} rounds x {args.iterations} runs; p50 = median over rounds of each round's median.\n"
          "ours: our worker's clock around each call (call_clock_p50_ms in the report); ours, OV timer: "
          "OpenVINO's own timer of the same calls (request.latency: the report's p50, and what benchmark_app "
          "reports)")
    width = 7 * args.rounds
    print(f"{'IR':<6} {'hint':<5} {'ours p50 ms':>11} {'ours, OV timer':>14} {'bench_app p50 ms':>16} {'ours/app':>9} "
          f"{'per-round':>9} {'best/best':>9} {'OV timer/app':>12} {'per-round':>9}   "
          f"{'rounds ours':<{width}} {'rounds benchmark_app':<{width}} {'accuracy %':>10}")
    medians = {}
    for key, row in rows.items():
        mine, clock = statistics.median(ours[key]), statistics.median(ours_clock[key])
        app = statistics.median(theirs[key])
        medians[key] = (mine, app)
        # Ratios of the two measurements taken back to back share the machine's load of the moment.
        paired = statistics.median(o / t for o, t in zip(ours[key], theirs[key], strict=True))
        paired_timer = statistics.median(o / t for o, t in zip(ours_clock[key], theirs[key], strict=True))
        # The least disturbed round of each tool: on a shared machine, load only ever adds latency.
        best = min(ours[key]) / min(theirs[key])
        print(f"{key[0]:<6} {key[1]:<5} {mine:>11.3f} {clock:>14.3f} {app:>16.3f} {mine / app:>9.3f} {paired:>9.3f} "
              f"{best:>9.3f} {clock / app:>12.3f} {paired_timer:>9.3f}   "
              f"{_spread(ours[key]):<{width}} {_spread(theirs[key]):<{width}} "
              f"{row['accuracy'] or float('nan'):>10.2f}")
    base = medians.get(("fp32", "f32"))
    if base is None:
        return
    base_accuracy = rows[("fp32", "f32")]["accuracy"]
    print("\nspeedup over the FP32 IR with the f32 hint, same run (accuracy from the bundle's report):")
    for key, (mine, app) in medians.items():
        delta = (rows[key]["accuracy"] - base_accuracy) if base_accuracy is not None else float("nan")
        paired = statistics.median(b / v for b, v in zip(ours[("fp32", "f32")], ours[key], strict=True))
        print(f"  {key[0]:<5} {key[1]:<5} ours {base[0] / mine:5.2f}x (per-round {paired:5.2f}x)   "
              f"benchmark_app {base[1] / app:5.2f}x   accuracy delta {delta:+.2f} points")


def _spread(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
