"""ONNX Runtime target options against the profile's own settings, side by side on this CPU.

    .venv/bin/python benchmarks/ort_option_ab.py --set conv_kernel=gemm [--set KEY=VALUE ...]
        [--variant PROFILE ...] [--bundle BUNDLE] [--rounds 8] [--realsize resnet18,mobilenet_v2,encoder]
        [--base x86-cpu-onnxruntime]

The same FP32 ONNX goes through the pipeline's ONNX Runtime backend for the --base profile as it is
("base"), for each --set a profile written here that extends it with ``options: {KEY: VALUE}``, and
for each --variant that profile (e.g. x86-cpu-onnxruntime-amx). Options worth comparing this way:
- ``conv_kernel=gemm``: INT8 convolutions on im2col + MLAS's INT8 GEMM (AMX where the CPU has it)
  instead of MLAS's indirect kernels (no AMX kernel in ORT 1.32); weights dequantize the same
  (``--variant x86-cpu-onnxruntime-amx``: only convolutions of GEMM depth 1024 and over, which is
  where AMX wins; ort_conv_layers.py times each convolution both ways);
- ``matmul_outputs=quantized``: MatMul/Gemm outputs requantized (QLinearMatMul) instead of left in
  float (MatMulIntegerToFloat, the x86 default);
- ``weight_range=reduced``: 7-bit weights (see ort_weight_range.py).
The MLAS kernel families this CPU dispatches to are printed from its flags by MLAS's own selection
order, and each artifact's compute layers as ORT's optimized graph has them (stderr;
edge_pipeline/backends/onnxruntime/mlas.py).

Models: realsize_models.py's ResNet-18 and MobileNetV2 at 224 x 224 (random weights and images),
the kit's encoder at dim 384, 4 layers, sequence 128 (int64 ids + mask, random weights), and with
--bundle the default's three trained FP32 ONNX files. Per model: worst and median per-sample cosine
to FP32, p50 at batch 1, 2 threads, the artifacts timed in turn for --rounds rounds (reversed
every other round), and each variant's p50 over base's, median of per-round ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

# the module beside this script
from ort_weight_range import add_model_arguments, cosines, first_sample, models, outputs, p50s_per_round, quantized

from edge_pipeline.backends.onnxruntime.mlas import INDIRECT_ORDER, INT8_GEMM_ORDER, compute_kernels, kernel_family
from edge_pipeline.benchmarking.host import cpu_flag_set, cpu_flags, cpu_model
from edge_pipeline.config.recipes import load_target

SHOWN_META = ("weight_bits", "matmul_outputs", "conv_kernel", "conv_gemm_min_depth", "convs_on_gemm")


def variant_profile(folder: Path, base: str, key: str, value: str):
    name = f"{base}-{key}-{value}"
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"metadata": {"name": name}, "extends": base,
                                    "options": {key: yaml.safe_load(value)}}))
    return load_target(str(path))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a variant: the base profile with this option (repeat for more variants)")
    parser.add_argument("--variant", action="append", default=[], metavar="PROFILE",
                        help="a variant: this target profile (repeat for more)")
    parser.add_argument("--base", default="x86-cpu-onnxruntime", help="the profile the variants are compared to")
    add_model_arguments(parser, rounds=8, iterations=40)
    args = parser.parse_args()
    for setting in args.set:
        if "=" not in setting:
            parser.error(f"--set {setting!r}: write KEY=VALUE, e.g. conv_kernel=gemm")
    if not args.set and not args.variant:
        parser.error("name a variant: --set KEY=VALUE or --variant PROFILE")
    args.skip_digits = args.bundle is None  # the default's models only where a bundle is given
    return args


def main() -> None:
    args = arguments()
    flags = cpu_flag_set()
    print(f"CPU: {cpu_model()}; flags: {', '.join(cpu_flags()) or '-'}")
    print(f"MLAS u8 x s8 kernels on this CPU (by MLAS's dispatch order): indirect convolution "
          f"{kernel_family(flags, INDIRECT_ORDER)}, GEMM {kernel_family(flags, INT8_GEMM_ORDER)}")
    print(f"ONNX Runtime CPU EP, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs; "
          f"base: {args.base}; variants: {', '.join(args.set + args.variant)}\n")
    print("| model | artifact | settings | cosine median | cosine worst | p50 ms | vs FP32 | "
          "variant / base per round |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ep-ort-option-") as tmp:
        work = Path(tmp)
        targets = {"base": load_target(args.base),
                   **{setting: variant_profile(work, args.base, *setting.split("=", 1)) for setting in args.set},
                   **{profile: load_target(profile) for profile in args.variant}}
        for name, fp32, calibration, evaluation in models(args, work):
            reference = outputs(fp32, evaluation)
            made = quantized(name, fp32, calibration, targets, work, 64)
            paths = {"FP32": fp32, **{label: artifact.path for label, artifact in made.items()}}
            rounds = p50s_per_round(paths, first_sample(evaluation), args.rounds, args.iterations)
            ratios = {label: statistics.median(v / b for v, b in zip(rounds[label], rounds["base"], strict=True))
                      for label in targets if label != "base"}
            fp32_p50 = statistics.median(rounds["FP32"])
            for label, path in paths.items():
                kernels = ", ".join(f"{k}×{n}" for k, n in compute_kernels(path, flags).most_common())
                print(f"  {name} {label}: {kernels}", file=sys.stderr)
                cos = cosines(reference if label == "FP32" else outputs(path, evaluation), reference)
                p50 = statistics.median(rounds[label])
                meta = made[label].meta if label in made else {}
                settings = ", ".join(f"{k} {meta[k]}" for k in SHOWN_META if k in meta)
                per_round = f"{ratios[label]:.3f}" if label in ratios else ""
                print(f"| {name} | {label} | {settings} | {np.median(cos):.5f} | {cos.min():.5f} | {p50:.3f} | "
                      f"{fp32_p50 / p50:.2f}x | {per_round} |", flush=True)


if __name__ == "__main__":
    main()
