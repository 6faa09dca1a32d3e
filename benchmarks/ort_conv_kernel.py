"""ONNX Runtime's two INT8 convolution paths on this CPU, side by side: conv_kernel indirect vs gemm.

    .venv/bin/python benchmarks/ort_conv_kernel.py [--bundle BUNDLE] [--rounds 8] [--realsize resnet18,mobilenet_v2]

The same FP32 ONNX goes through the pipeline's ONNX Runtime backend twice, for `x86-cpu-onnxruntime`
(conv_kernel: indirect, its default) and for a profile written here that extends it with
conv_kernel: gemm (edge_pipeline/backends/onnxruntime/conv_kernel.py). The weights dequantize to the
same values; only the MLAS kernel differs: MLAS's indirect convolution (no AMX kernel in ORT 1.32)
or im2col + its INT8 GEMM (AMX where the CPU has it). The MLAS kernel family each path dispatches
to on this CPU is printed from the CPU's flags by MLAS's own selection order, and each artifact's
compute layers as ORT's optimized graph has them (edge_pipeline/backends/onnxruntime/mlas.py).

Models: ResNet-18 and MobileNetV2 of realsize_models.py at 224 x 224 (random weights, random
images), and with --bundle the default's three trained FP32 ONNX files. Per model: worst and median
per-sample cosine to FP32 and p50 at batch 1, 2 threads, the three artifacts timed in turn for
--rounds rounds (reversed every other round), and gemm's p50 over indirect's, median per round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

# the module beside this script
from ort_weight_range import add_model_arguments, cosines, models, outputs, p50s_per_round, quantized

from edge_pipeline.backends.onnxruntime.mlas import INDIRECT_ORDER, INT8_GEMM_ORDER, compute_kernels, kernel_family
from edge_pipeline.benchmarking.host import cpu_flag_set, cpu_flags, cpu_model
from edge_pipeline.config.recipes import load_target

BASE = "x86-cpu-onnxruntime"


def gemm_profile(folder: Path):
    path = folder / "x86-cpu-onnxruntime-gemm.yaml"
    path.write_text(f"metadata: {{name: x86-cpu-onnxruntime-gemm}}\nextends: {BASE}\noptions: {{conv_kernel: gemm}}\n")
    return load_target(str(path))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, rounds=8, iterations=40)
    args = parser.parse_args()
    args.skip_digits = args.bundle is None  # the default's models only where a bundle is given
    return args


def main() -> None:
    args = arguments()
    flags = cpu_flag_set()
    print(f"CPU: {cpu_model()}; flags: {', '.join(cpu_flags()) or '-'}")
    print(f"MLAS u8 x s8 kernels on this CPU (by MLAS's dispatch order): indirect convolution "
          f"{kernel_family(flags, INDIRECT_ORDER)}, GEMM {kernel_family(flags, INT8_GEMM_ORDER)}")
    print(f"ONNX Runtime CPU EP, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs\n")
    print("| model | conv_kernel | convs on GEMM | cosine median | cosine worst | p50 ms | vs FP32 | "
          "gemm / indirect per round |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ep-conv-kernel-") as tmp:
        work = Path(tmp)
        targets = {"indirect": load_target(BASE), "gemm": gemm_profile(work)}
        for name, fp32, calibration, evaluation in models(args, work):
            reference = outputs(fp32, evaluation)
            made = quantized(name, fp32, calibration, targets, work, 64)
            paths = {"FP32": fp32, **{kernel: artifact.path for kernel, artifact in made.items()}}
            routed = {kernel: artifact.meta.get("convs_on_gemm", 0) for kernel, artifact in made.items()}
            rounds = p50s_per_round(paths, evaluation.inputs[:1], args.rounds, args.iterations)
            ratio = statistics.median(g / i for g, i in zip(rounds["gemm"], rounds["indirect"], strict=True))
            fp32_p50 = statistics.median(rounds["FP32"])
            for key, path in paths.items():
                kernels = ", ".join(f"{label}×{count}" for label, count in compute_kernels(path, flags).most_common())
                print(f"  {name} {key}: {kernels}", file=sys.stderr)
                cos = cosines(reference if key == "FP32" else outputs(path, evaluation), reference)
                p50 = statistics.median(rounds[key])
                per_round = f"{ratio:.3f}" if key == "gemm" else ""
                print(f"| {name} | {key} | {routed.get(key, '')} | {np.median(cos):.5f} | {cos.min():.5f} | "
                      f"{p50:.3f} | {fp32_p50 / p50:.2f}x | {per_round} |", flush=True)


if __name__ == "__main__":
    main()
