"""ONNX Runtime INT8 convolutions, layer by layer: MLAS's indirect kernels against im2col + its INT8 GEMM.

    .venv/bin/python benchmarks/ort_conv_layers.py [--realsize resnet18,mobilenet_v2] [--runs 200]

ort_option_ab.py compares whole models (``conv_kernel: gemm`` against the profile's indirect); this
script says which convolutions gain and which lose. Each model is quantized by the pipeline's ONNX
Runtime backend twice (x86-cpu-onnxruntime, and the same with ``conv_kernel: gemm``), each artifact
runs --runs times at batch 1 and 2 threads with ORT's profiler on, twice, in turn, and each
convolution's time (mean over the runs; the better of its two sessions) is printed beside its shape:
input channels, output channels, kernel, stride, group, the GEMM's K (input channels x kernel area)
and N (output pixels), and GEMM over indirect.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import onnx

# the modules beside this script
from ort_option_ab import variant_profile
from ort_weight_range import first_sample, models, quantized

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.onnxruntime.conv_kernel import gemm_depth
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.benchmarking.host import cpu_flags, cpu_model
from edge_pipeline.config.recipes import load_target


def conv_shapes(fp32: Path) -> dict[str, dict]:
    """Per Conv of the FP32 model, by node name (quantization keeps it): channels, kernel, stride, group,
    output pixels."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(fp32)))
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.value_info}
    shapes.update({v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.output})
    found = {}
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in weights:
            continue
        attrs = {a.name: (list(a.ints) or a.i) for a in node.attribute}
        cout, cin_per_group, kh, kw = weights[node.input[1]]
        out = shapes.get(node.output[0], [0, 0, 0, 0])
        found[node.name] = {"cin": cin_per_group * attrs.get("group", 1), "cout": cout, "k": f"{kh}x{kw}",
                            "stride": (attrs.get("strides") or [1])[0], "group": attrs.get("group", 1),
                            "K": gemm_depth(weights[node.input[1]]), "N": out[2] * out[3] if len(out) == 4 else 0}
    return found


def layer_ms(path: Path, sample: dict, runs: int, folder: Path) -> dict[str, float]:
    """{node name: mean ms per run} of every node ORT ran, from its profiler."""
    options = RunnerOptions(threads=2, profile_prefix=str(folder / path.parent.name))
    with get_backend("onnxruntime").runner(path, options) as runner:
        feed = {runner.inputs[0].name: next(iter(sample.values()))}
        profile = runner.profile_layers(feed, 20, runs)
    return {layer.name: layer.total_ms / profile.runs for layer in profile.layers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realsize", default="resnet18,mobilenet_v2")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    args.bundle, args.skip_digits = None, True
    print(f"CPU: {cpu_model()}; flags: {', '.join(cpu_flags()) or '-'}; batch 1, 2 threads, {args.runs} runs")
    with tempfile.TemporaryDirectory(prefix="ep-ort-conv-layers-") as tmp:
        work = Path(tmp)
        targets = {"indirect": load_target("x86-cpu-onnxruntime"),
                   "gemm": variant_profile(work, "x86-cpu-onnxruntime", "conv_kernel", "gemm")}
        for name, fp32, calibration, evaluation in models(args, work):
            shapes = conv_shapes(fp32)
            made = quantized(name, fp32, calibration, targets, work, 32)
            sample = first_sample(evaluation)
            best: dict[str, dict[str, float]] = {key: {} for key in made}
            for _ in range(2):
                for key, artifact in made.items():
                    for layer, ms in layer_ms(artifact.path, sample, args.runs, work).items():
                        best[key][layer] = min(ms, best[key].get(layer, ms))
            print_model(name, shapes, best)


def print_model(name: str, shapes: dict[str, dict], best: dict[str, dict[str, float]]) -> None:
    print(f"\n{name}: totals indirect {sum(best['indirect'].values()):.3f} ms, "
          f"gemm {sum(best['gemm'].values()):.3f} ms (every node)")
    print("| conv | cin | cout | k | stride | group | K | N | indirect ms | gemm ms | gemm / indirect |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for conv, shape in shapes.items():
        # ORT names a fused QLinearConv after its Conv node: 'node_Conv_292_token_1'
        indirect, gemm = (sum(ms for layer, ms in best[key].items()
                              if layer == conv or layer.startswith(conv + "_token")) for key in ("indirect", "gemm"))
        ratio = f"{gemm / indirect:.2f}" if indirect and gemm else "-"
        print(f"| {conv} | {shape['cin']} | {shape['cout']} | {shape['k']} | {shape['stride']} | {shape['group']} | "
              f"{shape['K']} | {shape['N']} | {indirect:.4f} | {gemm:.4f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
