"""Peak RSS of the quantize step per backend on a 640x640 FPN detector (dynamic H/W in its ONNX).

    .venv/bin/python benchmarks/calibration_memory.py [--samples 64] [--size 640] [--cap-gib 12]
                                                      [--rows ort,ort-entropy,openvino,tensorrt]

Each row runs one backend's ``quantize`` (calibration and the INT8 model, nothing else) in a
fresh process, which reports its own peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``). A watchdog kills a process
whose RSS passes ``--cap-gib`` so that an unbounded calibration cannot take the machine with it;
such a row reads ``> cap``. ``setup`` is the process's RSS once the model, the calibration data
and the runtime are loaded, before quantize starts: the quantize step's own share is the
difference. Not a timing benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOAL_GIB = 4.0
# row -> (target profile, calibration method; None: the target's own)
ROWS = {
    "ort": ("x86-cpu-onnxruntime", None),
    "ort-entropy": ("x86-cpu-onnxruntime", "entropy"),
    "openvino": ("x86-cpu-openvino", None),
    "tensorrt": ("x86-gpu-tensorrt", None),
}


def _child(row: str, work: Path, samples: int) -> None:
    import resource

    import numpy as np
    import psutil

    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.calibration.dataset import ArrayDataset
    from edge_pipeline.config.recipes import load_target
    from edge_pipeline.config.schema import QuantizeConfig, effective_stage_config

    target_name, method = ROWS[row]
    target = load_target(target_name)
    # The memory question only: no fidelity floor, no fallback.
    overrides = {"samples": samples, "min_cosine": None, "fallback": False, **({"method": method} if method else {})}
    config = effective_stage_config(QuantizeConfig(**overrides), target.quantize)
    images = np.load(work / "calibration.npy")
    dataset = ArrayDataset({"images": images}, None, "random images", "bench")
    backend = get_backend(target.backend)
    setup = psutil.Process().memory_info().rss
    out = work / row
    out.mkdir()
    start = time.perf_counter()
    produced = backend.quantize(work / "detector.onnx", dataset, config, target, out)
    meta = produced[0].meta
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"peak": peak, "setup": setup, "seconds": time.perf_counter() - start, "method": config.method,
                      "calibration": meta.get("calibration", {})}))


def _run_row(row: str, work: Path, samples: int, cap: int) -> dict:
    import psutil

    process = subprocess.Popen([sys.executable, __file__, "--child", row, "--work", str(work),
                                "--samples", str(samples)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO)
    capped = threading.Event()

    def watch() -> None:
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                if watched.memory_info().rss > cap:
                    capped.set()
                    process.kill()
                    return
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    watcher.join()
    result = {"row": row, "rc": process.returncode, "peak": 0, "capped": capped.is_set()}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
    elif not capped.is_set():
        result["error"] = (stderr.strip().splitlines() or ["no output"])[-1][:200]
    return result


def _gib(count: float) -> str:
    return f"{count / 2**30:.2f}"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--size", type=int, default=640)
    parser.add_argument("--cap-gib", type=float, default=12.0)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.work, args.samples)
        return
    import numpy as np

    from edge_pipeline.cpuinfo import cpu_flag_set, cpu_model
    from edge_pipeline.testing.public_kit import write_fpn_detector_onnx

    rows = args.rows.split(",")
    with tempfile.TemporaryDirectory(prefix="ep-calib-mem-") as tmp:
        work = Path(tmp)
        write_fpn_detector_onnx(work / "detector.onnx", size=args.size)
        rng = np.random.default_rng(0)
        np.save(work / "calibration.npy",
                rng.standard_normal((args.samples, 3, args.size, args.size), dtype=np.float32))
        results = [_run_row(row, work, args.samples, int(args.cap_gib * 2**30)) for row in rows]
    flags = sorted(cpu_flag_set() & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"})
    print(f"command: .venv/bin/python benchmarks/calibration_memory.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"commit: {_commit()}")
    print(f"cpu: {cpu_model()} ({', '.join(flags)}); {os.cpu_count()} cores; python {platform.python_version()}")
    print(f"model: public_kit.fpn_detector, {args.size}x{args.size}, dynamic N/H/W; "
          f"{args.samples} calibration samples; goal: peak <= {GOAL_GIB:.0f} GiB per backend")
    print()
    print("| row | target | method | samples | batch | setup GiB | peak GiB | seconds | within goal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for result in results:
        target, _ = ROWS[result["row"]]
        calibration = result.get("calibration", {})
        peak = f"> {args.cap_gib:.0f} (killed)" if result["capped"] else _gib(result["peak"])
        ok = "no" if result["capped"] or result["peak"] > GOAL_GIB * 2**30 or result["rc"] else "yes"
        if result.get("error"):
            ok = f"failed: {result['error']}"
        print(f"| {result['row']} | {target} | {result.get('method', '')} | {calibration.get('samples', '')} | "
              f"{calibration.get('batch_size', '')} | {_gib(result.get('setup', 0))} | {peak} | "
              f"{result.get('seconds', 0):.1f} | {ok} |")


if __name__ == "__main__":
    main()
