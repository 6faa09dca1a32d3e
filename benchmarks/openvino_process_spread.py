"""Does an IR's latency move within one process, or between processes? (issue 16, the lent Xeon)

    python benchmarks/openvino_process_spread.py A.xml [B.xml ...] [--processes 6] [--blocks 8]
        [--calls 25] [--threads 2] [--interleave]
    python benchmarks/openvino_process_spread.py --make-fp32-resnet18 fp32.xml   # realsize's ResNet-18

On the lent AMX Xeon (a KVM guest) the INT8 ResNet-18 IR ran at either ~1.6 or ~3.4 ms a call, a
round at a time. Each process here compiles one IR the way the benchmark runner does (latency
hint, one stream, INFERENCE_PRECISION_HINT=f32, the given threads) and times ``--blocks`` blocks of
``--calls`` sync calls on inputs bound once; the files take turns, a fresh process each time. It
prints each block's median and the process's transparent-huge-page memory. Blocks that agree within
a process while processes disagree point at something a process draws once (its memory layout,
huge pages, where its threads land); blocks that move within a process point at the machine.

``--interleave``: one process per repeat compiles every file and times them block by block in
turn, so each of the first file's blocks has a neighbour of every other file seconds apart; the
speedup of a file over the first is then the median of those neighbouring blocks' ratios (what a
machine whose speed changes every few seconds still lets one compare).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _request(core, path: str, threads: int):
    import numpy as np
    import openvino as ov

    compiled = core.compile_model(path, "CPU", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                                                "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    for port in compiled.inputs:
        shape = [1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()]
        request.set_tensor(port, ov.Tensor(rng.standard_normal(shape).astype(np.float32)))
    for _ in range(5):
        request.infer(share_outputs=True)
    return request


def _block(request, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        request.infer(share_outputs=True)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def child(paths: list[str], blocks: int, calls: list[int], threads: int) -> dict:
    import openvino as ov

    core = ov.Core()
    requests = [_request(core, path, threads) for path in paths]
    medians: list[list[float]] = [[] for _ in paths]
    for _ in range(blocks):
        for index, request in enumerate(requests):
            medians[index].append(_block(request, calls[index]))
    return {"block_medians_ms": medians, "anon_huge_mb": _anon_huge_mb()}


def make_fp32_resnet18(path: Path) -> None:
    """realsize's ResNet-18 (seed 0) as an FP32 IR, straight from torch (no ONNX on the way)."""
    import openvino as ov
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from realsize_models import resnet18

    model = ov.convert_model(resnet18().eval(), example_input=torch.randn(1, 3, 224, 224),
                             input=ov.PartialShape([1, 3, 224, 224]))
    ov.save_model(model, str(path), compress_to_fp16=False)


def _anon_huge_mb() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("irs", nargs="*")
    parser.add_argument("--processes", type=int, default=6, help="fresh processes per IR")
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--interleave", action="store_true",
                        help="all files in one process per repeat, block by block in turn")
    parser.add_argument("--make-fp32-resnet18", type=Path, metavar="XML")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_fp32_resnet18:
        make_fp32_resnet18(args.make_fp32_resnet18)
        return
    if args.child:
        print(json.dumps(child(args.irs, args.blocks, [args.calls] * len(args.irs), args.threads)))
        return
    if args.interleave:
        interleaved(args)
        return
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    print(f"transparent huge pages: {thp.read_text().strip() if thp.exists() else 'unknown'}")
    by_ir: dict[str, list[float]] = {ir: [] for ir in args.irs}
    spreads = []
    for index in range(args.processes):
        for ir in args.irs:
            out = subprocess.run([sys.executable, __file__, ir, "--child", "--blocks", str(args.blocks),
                                  "--calls", str(args.calls), "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            blocks = result["block_medians_ms"][0]
            by_ir[ir].append(statistics.median(blocks))
            spreads.append(max(blocks) / min(blocks))
            print(f"process {index + 1} {Path(ir).parent.name}/{Path(ir).name}: blocks "
                  + " ".join(f"{b:.3f}" for b in blocks)
                  + f" ms | median {statistics.median(blocks):.3f} | AnonHugePages {result['anon_huge_mb']:.0f} MB",
                  flush=True)
    print(f"\nwithin a process, max/min of block medians: median {statistics.median(spreads):.2f}, "
          f"largest {max(spreads):.2f}")
    for ir, medians in by_ir.items():
        print(f"between processes, {ir}: process medians {min(medians):.3f}-{max(medians):.3f} ms "
              f"(max/min {max(medians) / min(medians):.2f})")


def interleaved(args) -> None:
    names = [f"{Path(ir).parent.name}/{Path(ir).name}" for ir in args.irs]
    ratios: list[list[float]] = [[] for _ in args.irs]
    for index in range(args.processes):
        out = subprocess.run([sys.executable, __file__, *args.irs, "--child", "--blocks", str(args.blocks),
                              "--calls", str(args.calls), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True).stdout
        medians = json.loads(out.strip().splitlines()[-1])["block_medians_ms"]
        print(f"process {index + 1}")
        for name, blocks, pooled in zip(names, medians, ratios, strict=True):
            pairs = [first / mine for first, mine in zip(medians[0], blocks, strict=True)]
            pooled += pairs
            print(f"  {name}: blocks {min(blocks):.3f}-{max(blocks):.3f} ms, median {statistics.median(blocks):.3f}"
                  f" | first file / this, neighbouring blocks: median {statistics.median(pairs):.2f}×"
                  f" (range {min(pairs):.2f}-{max(pairs):.2f})", flush=True)
    print("\nall processes, first file / this over neighbouring blocks:")
    for name, pooled in zip(names, ratios, strict=True):
        print(f"  {name}: median {statistics.median(pooled):.2f}×, quartiles "
              f"{statistics.quantiles(pooled, n=4)[0]:.2f}-{statistics.quantiles(pooled, n=4)[2]:.2f}")


if __name__ == "__main__":
    main()
