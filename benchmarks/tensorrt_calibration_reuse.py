"""Calibration statistics collected once vs once per policy, and each policy's ORT-simulated accuracy.

    .venv/bin/python benchmarks/tensorrt_calibration_reuse.py [path/to/model.onnx]

Uses the exported FP32 ONNX given (default: the digits teacher exported by `edge-pipeline run`
into /tmp/trt-bundle) and the shipped digits calibration/eval sets. Prints, side by side in one
run: the time of one ORT statistics pass, the time to derive each policy's ranges from it, and the
time three separate passes would take; then FP32 vs Q/DQ accuracy per policy in ONNX Runtime.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edge_pipeline.backends.tensorrt import calibration as tensorrt_calibration
from edge_pipeline.backends.tensorrt.calibration import activation_amax, collect_statistics
from edge_pipeline.backends.tensorrt.qdq.insert import insert_qdq
from edge_pipeline.backends.tensorrt.qdq.placement import plan_qdq
from edge_pipeline.calibration.dataset import ArrayDataset

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = Path("/tmp/trt-bundle/artifacts/teacher/onnx/fp32/teacher.fp32.onnx")
POLICIES = ("minmax", "entropy", "percentile")


def accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return float((session.run(None, {session.get_inputs()[0].name: x})[0].argmax(1) == y).mean() * 100)


def main() -> None:
    model = onnx.load(str(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL))
    digits = REPO / "edge_pipeline" / "calibration_data" / "digits"
    calib, evaluation = (np.load(digits / f"{n}.npz") for n in ("calibration", "eval"))
    dataset = ArrayDataset(calib["x"], None, "digits calibration", "bench")
    plan = plan_qdq(model)
    tensors = sorted(plan.activations)

    start = time.perf_counter()
    statistics = collect_statistics(model, tensors, dataset, 128, 2048)
    collect_s = time.perf_counter() - start
    derive_s, amaxes = {}, {}
    for policy in POLICIES:
        start = time.perf_counter()
        amaxes[policy] = activation_amax(statistics, policy, 99.99)
        derive_s[policy] = time.perf_counter() - start
    tensorrt_calibration._MEMO.clear()
    start = time.perf_counter()
    for _ in POLICIES:
        tensorrt_calibration._MEMO.clear()
        collect_statistics(model, tensors, dataset, 128, 2048)
    separate_s = time.perf_counter() - start

    shared = collect_s + sum(derive_s.values())
    print(f"tensors calibrated: {len(tensors)}, samples: {statistics.samples}")
    print("| what | seconds |")
    print("|---|---|")
    print(f"| one statistics pass (ORT) | {collect_s:.3f} |")
    for policy in POLICIES:
        print(f"| derive {policy} ranges | {derive_s[policy]:.3f} |")
    print(f"| shared: one pass + 3 policies | {shared:.3f} |")
    print(f"| separate: 3 passes | {separate_s:.3f} |")
    print(f"| ratio separate / shared | {separate_s / shared:.2f}x |")
    print()
    print("| policy | FP32 acc % | Q/DQ ORT-simulated acc % |")
    print("|---|---|---|")
    reference = accuracy(model, evaluation["x"], evaluation["y"])
    for policy in POLICIES:
        simulated = accuracy(insert_qdq(model, plan, amaxes[policy]), evaluation["x"], evaluation["y"])
        print(f"| {policy} | {reference:.2f} | {simulated:.2f} |")


if __name__ == "__main__":
    main()
