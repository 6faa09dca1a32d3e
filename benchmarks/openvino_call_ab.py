"""OpenVINO's sync latency on one IR in fresh processes: what in our worker's process differs from benchmark_app's.

    .venv/bin/python benchmarks/openvino_call_ab.py MODEL.xml [--rounds 8] [--iterations 300] [--threads 2]

On the lent AMX Xeon our worker's p50 for ResNet-18's INT8 IR came out at either about benchmark_app's
(1.55 ms) or twice it (3.07 ms), round by round, while benchmark_app stayed at 1.5-1.6 ms in most
rounds. Each round here runs every variant once, each in a fresh process, in an order rotated
every round:
- app: benchmark_app (sync API, inference only), the compile properties our runner sets (-load_config);
- worker: the pipeline's benchmark worker (benchmarking/harness.py, as the benchmark stage runs it),
  OpenVINO's own timer;
- plain: the least a Python caller does: compile with the same properties, bind one input, then
  ``infer()`` in a loop, the median of ``request.latency``;
- plain-omp: plain with OMP_NUM_THREADS set as our harness sets it for its workers;
- plain-torch: plain after importing torch and running one small matmul first;
- plain-nopin: plain with ENABLE_CPU_PINNING off;
- plain-noreserve: plain with ENABLE_CPU_RESERVATION off.
Each plain child also prints, for each of its threads that ran, the CPUs it may run on, the CPU it
last ran on and its CPU time (from /proc): two busy threads on one CPU mean half the speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from ov_benchmark_app import benchmark_app_median  # the module beside this script

PLAIN = ("plain", "plain-omp", "plain-torch", "plain-nopin", "plain-noreserve")
VARIANTS = ("app", "worker", *PLAIN)


def compile_config(threads: int) -> dict:
    from edge_pipeline.backends.openvino.options import parse_options
    from edge_pipeline.backends.openvino.runner import compile_config as ours
    from edge_pipeline.config.recipes import load_target

    return ours(parse_options(load_target("x86-cpu-openvino").options, "openvino_call_ab"), threads, "f32")


def input_spec(path: Path) -> tuple[str, list[int], str]:
    import openvino as ov

    port = ov.Core().read_model(str(path)).inputs[0]
    shape = [1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
    return port.get_any_name(), shape, port.get_element_type().to_dtype().name


def thread_report() -> list[str]:
    """'name allowed=CPUS last=CPU cpu_s=S' for each thread of this process that used CPU time."""
    lines = []
    for tid in sorted(os.listdir("/proc/self/task"), key=int):
        task = Path("/proc/self/task") / tid
        try:
            status = (task / "status").read_text()
            stat = (task / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if cpu_s < 0.05:
            continue
        allowed = next(line.split(":", 1)[1].strip() for line in status.splitlines()
                       if line.startswith("Cpus_allowed_list"))
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        lines.append(f"{name} allowed={allowed} last={fields[36]} cpu_s={cpu_s:.2f}")
    return lines


def child(variant: str, path: Path, iterations: int, threads: int) -> None:
    if variant == "plain-torch":
        import torch

        torch.ones(256, 256) @ torch.ones(256, 256)
    import numpy as np
    import openvino as ov

    config = compile_config(threads)
    if variant == "plain-nopin":
        config["ENABLE_CPU_PINNING"] = False
    if variant == "plain-noreserve":
        config["ENABLE_CPU_RESERVATION"] = False
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    name, shape, dtype = input_spec(path)
    data = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    request.set_tensor(name, ov.Tensor(data, shared_memory=True))
    for _ in range(30):
        request.infer(share_outputs=True)
    latencies = []
    for _ in range(iterations):
        request.infer(share_outputs=True)
        latencies.append(request.latency)
    print(json.dumps({"p50": statistics.median(latencies), "threads": thread_report(),
                      "pinning": bool(compiled.get_property("ENABLE_CPU_PINNING"))}))


def run_plain(variant: str, path: Path, args) -> tuple[float, dict]:
    env = dict(os.environ)
    if variant == "plain-omp":
        env["OMP_NUM_THREADS"] = str(args.threads)
    command = [sys.executable, __file__, str(path), "--child", variant, "--iterations", str(args.iterations),
               "--threads", str(args.threads)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-2000:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return found["p50"], found


def run_worker(path: Path, args, tmp: Path) -> tuple[float, dict]:
    from edge_pipeline.benchmarking.harness import run_worker as harness_worker
    from edge_pipeline.config.recipes import load_target

    _, shape, dtype = input_spec(path)
    job = {"backend": "openvino", "artifact": str(path), "variant": "f32",
           "settings": load_target("x86-cpu-openvino").options, "batch_sizes": [1], "threads": [args.threads],
           "warmup": 30, "iterations": args.iterations, "time_budget_s": None, "eval_batch_size": 1,
           "sample_shape": shape[1:], "dtype": dtype}
    (config,) = harness_worker(job, tmp / "worker")["configs"]
    return config["latency_ms"]["p50"], {}


def run_app(path: Path, args, tmp: Path) -> tuple[float, dict]:
    name, shape, _ = input_spec(path)
    data_shape = f"{name}[{','.join(map(str, shape))}]"
    return benchmark_app_median(path, compile_config(args.threads), data_shape, tmp, args.iterations), {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", choices=PLAIN, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.iterations, args.threads)
        return
    variants = args.variants.split(",")
    p50s: dict[str, list[float]] = {v: [] for v in variants}
    print(f"{args.model}: sync, batch 1, {args.threads} threads, {args.iterations} calls per process; "
          f"allowed CPUs {sorted(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory(prefix="ep-ov-call-ab-") as folder:
        tmp = Path(folder)
        for round_index in range(args.rounds):
            shift = round_index % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                if variant == "app":
                    p50, info = run_app(args.model, args, tmp)
                elif variant == "worker":
                    p50, info = run_worker(args.model, args, tmp)
                else:
                    p50, info = run_plain(variant, args.model, args)
                p50s[variant].append(p50)
                if info:
                    print(f"  round {round_index + 1} {variant}: p50 {p50:.3f} ms, pinning {info['pinning']}; "
                          + "; ".join(info["threads"]))
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    app = p50s.get("app")
    print("\n| variant | p50 median ms | per round | / app per round (median) |\n|---|---|---|---|")
    for variant, values in p50s.items():
        ratio = (f"{statistics.median(v / a for v, a in zip(values, app, strict=True)):.3f}" if app else "-")
        print(f"| {variant} | {statistics.median(values):.3f} | {', '.join(f'{v:.2f}' for v in values)} | {ratio} |")


if __name__ == "__main__":
    main()
