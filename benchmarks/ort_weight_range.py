"""8-bit vs 7-bit INT8 weights under ONNX Runtime on this CPU: fidelity and speed side by side.

    .venv/bin/python benchmarks/ort_weight_range.py --bundle BUNDLE [--rounds 5] [--realsize resnet18,mobilenet_v2]

Quantizes the same FP32 ONNX through the pipeline's ONNX Runtime backend twice: for
`x86-cpu-onnxruntime` (U8S8, 8-bit weights: for CPUs with VNNI or AMX) and for
`x86-cpu-onnxruntime-avx2` (U8S8, 7-bit weights). Without VNNI, MLAS adds each pair of u8 x s8
products in 16 bits (vpmaddubsw), which saturates when both factors are large; with 7-bit weights a
pair stays below 2^15. On a VNNI or AMX CPU neither saturates and the columns show only the cost of
the lost bit.

Models: the default's three trained FP32 ONNX files from BUNDLE (a default run's bundle; scored on
the shipped digits eval split, accuracy included), and the random-weight ResNet-18 and MobileNetV2
of realsize_models.py at 224 x 224 (random images; no accuracy). Per model: median and worst
per-sample cosine to FP32, top-1 agreement with FP32, and p50 at batch 1, 2 threads, the two
artifacts timed in turn for --rounds rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.benchmarking.host import cpu_flags, cpu_model
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.locations import PACKAGE_DIR
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import ExportConfig, InputSpec, QuantizeConfig
from edge_pipeline.modeling.onnx_export import export_onnx

TARGETS = {"8-bit": "x86-cpu-onnxruntime", "7-bit": "x86-cpu-onnxruntime-avx2"}
DIGITS = PACKAGE_DIR / "calibration_data" / "digits"


def add_model_arguments(parser: argparse.ArgumentParser, rounds: int, iterations: int) -> None:
    """The models and timing options this script and ort_conv_kernel.py share."""
    parser.add_argument("--bundle", type=Path, help="a default run's bundle (its FP32 ONNX files)")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--realsize", default="resnet18,mobilenet_v2",
                        help="comma-separated real-size models to add (resnet18, mobilenet_v2, encoder; '' for none)")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, rounds=5, iterations=50)
    parser.add_argument("--skip-digits", action="store_true", help="leave out the default's three models")
    return parser.parse_args()


def models(args, work: Path) -> list[tuple[str, Path, ArrayDataset, ArrayDataset]]:
    """(name, FP32 ONNX, calibration, eval) for every model measured."""
    with np.load(DIGITS / "calibration.npz") as c, np.load(DIGITS / "eval.npz") as e:
        calibration = ArrayDataset(c["x"], c["y"], "digits calibration", "digits-calibration")
        evaluation = ArrayDataset(e["x"], e["y"], "digits eval", "digits-eval")
    found = []
    for name in () if args.skip_digits else ("teacher", "student", "student-pruned"):
        path = Path(args.bundle or "") / "artifacts" / name / "onnx" / "fp32" / f"{name}.fp32.onnx"
        if args.bundle is None or not path.is_file():
            raise SystemExit(f"{path} is missing: pass the bundle of a default run (`edge-pipeline run --out DIR`)")
        found.append((f"digits {name}", path, calibration, evaluation))
    found += [realsize(name, work) for name in filter(None, args.realsize.split(","))]
    return found


def realsize(name: str, work: Path) -> tuple[str, Path, ArrayDataset, ArrayDataset]:
    import torch
    from realsize_models import mobilenet_v2, resnet18  # the module beside this script

    if name == "encoder":
        return encoder(work)
    model = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2}[name]()
    rng = np.random.default_rng(0)
    calibration = rng.standard_normal((64, 3, 224, 224)).astype(np.float32)
    evaluation = rng.standard_normal((32, 3, 224, 224)).astype(np.float32)
    path = work / f"{name}.onnx"
    with torch.no_grad():
        export_onnx(model, InputSpec(shape=[1, 3, 224, 224]), ExportConfig(), path, evaluation[:2])
    return (name, path, ArrayDataset(calibration, None, f"{name} calibration", f"{name}-calibration"),
            ArrayDataset(evaluation, None, f"{name} eval", f"{name}-eval"))


def encoder(work: Path) -> tuple[str, Path, ArrayDataset, ArrayDataset]:
    """encoder_int8_speedup.py's model: the kit's encoder at MiniLM-like width (dim 384, 4 layers, 6
    heads), int64 ids and attention mask at sequence 128, random weights and tokens."""
    from encoder_int8_speedup import SEQUENCE, token_arrays  # the module beside this script

    from edge_pipeline.testing.kit import tiny_encoder

    vocab = 8000
    model = tiny_encoder(vocab=vocab, dim=384, heads=6, layers=4, max_length=SEQUENCE)
    specs = [InputSpec(name=name, shape=[1, SEQUENCE], dtype="int64") for name in ("input_ids", "attention_mask")]
    calibration, evaluation = token_arrays(64, vocab, 1), token_arrays(32, vocab, 2)
    path = work / "encoder.onnx"
    export_onnx(model, specs, ExportConfig(), path, evaluation, declared_outputs=["embedding"])
    return ("encoder", path, ArrayDataset(calibration, None, "encoder calibration", "encoder-calibration"),
            ArrayDataset(evaluation, None, "encoder eval", "encoder-eval"))


def first_sample(data: ArrayDataset) -> dict[str, np.ndarray]:
    return {name: values[:1] for name, values in data.arrays.items()}


def outputs(path: Path, data: ArrayDataset) -> np.ndarray:
    with get_backend("onnxruntime").runner(path, RunnerOptions(threads=2)) as runner:
        parts = [next(iter(runner.infer(_feed(runner, data, i, i + 16)).values())) for i in range(0, len(data), 16)]
    return np.concatenate(parts).reshape(len(data), -1).astype(np.float64)


def _feed(runner, data: ArrayDataset, start: int, stop: int) -> dict[str, np.ndarray]:
    if len(data.arrays) == 1:  # a one-input dataset feeds the model's one input, whatever its name
        return {runner.inputs[0].name: data.inputs[start:stop]}
    return {name: values[start:stop] for name, values in data.arrays.items()}


def cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.sum(got * want, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))


def p50s(paths: dict[str, Path], sample: dict[str, np.ndarray], rounds: int, iterations: int) -> dict[str, float]:
    """Median over rounds of each artifact's per-round p50."""
    per_round = p50s_per_round(paths, sample, rounds, iterations)
    return {key: statistics.median(values) for key, values in per_round.items()}


def p50s_per_round(paths: dict[str, Path], sample: dict[str, np.ndarray], rounds: int,
                   iterations: int) -> dict[str, list[float]]:
    """Each artifact's p50 in ms on ``sample`` (named inputs; a one-input one under any name), round by
    round; the artifacts take turns within a round, in reverse order every other round."""
    per_round: dict[str, list[float]] = {key: [] for key in paths}
    with contextlib.ExitStack() as stack:
        runners = {key: stack.enter_context(get_backend("onnxruntime").runner(path, RunnerOptions(threads=2)))
                   for key, path in paths.items()}
        for round_index in range(rounds):
            # every other round in reverse, so neither artifact always follows the other
            order = list(runners.items())[:: 1 if round_index % 2 == 0 else -1]
            for key, runner in order:
                feed = sample if len(sample) > 1 else {runner.inputs[0].name: next(iter(sample.values()))}
                for _ in range(10):
                    runner.infer(feed)
                times = []
                for _ in range(iterations):
                    start = time.perf_counter()
                    runner.infer(feed)
                    times.append(time.perf_counter() - start)
                per_round[key].append(statistics.median(times) * 1e3)
    return per_round


def quantized(name: str, fp32: Path, calibration: ArrayDataset, targets: dict, work: Path, samples: int) -> dict:
    """{key: the ProducedArtifact} of ``fp32`` quantized by the ONNX Runtime backend for each of ``targets``
    ({key: loaded target profile})."""
    produced = {}
    for key, target in targets.items():
        out = work / name.replace(" ", "-") / key
        produced[key] = get_backend("onnxruntime").quantize(fp32, calibration, QuantizeConfig(samples=samples),
                                                            target, out)[0]
    return produced


def main() -> None:
    args = arguments()
    print(f"CPU: {cpu_model()}; flags: {', '.join(cpu_flags()) or '-'}")
    print(f"ONNX Runtime CPU EP, batch 1, 2 threads, {args.rounds} rounds x {args.iterations} runs\n")
    print("| model | weights | target | cosine median | cosine worst | top-1 = FP32 % | accuracy % | p50 ms | "
          "speedup |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="ep-weight-range-") as tmp:
        work = Path(tmp)
        for name, fp32, calibration, evaluation in models(args, work):
            reference = outputs(fp32, evaluation)
            made = quantized(name, fp32, calibration, {bits: load_target(t) for bits, t in TARGETS.items()}, work, 128)
            paths = {"FP32": fp32, **{bits: artifact.path for bits, artifact in made.items()}}
            timed = p50s(paths, first_sample(evaluation), args.rounds, args.iterations)
            for bits, path in paths.items():
                got = reference if bits == "FP32" else outputs(path, evaluation)
                cos = cosines(got, reference)
                agree = 100 * np.mean(got.argmax(1) == reference.argmax(1))
                accuracy = (f"{100 * np.mean(got.argmax(1) == evaluation.labels):.2f}"
                            if evaluation.labels is not None else "")
                print(f"| {name} | {bits} | {TARGETS.get(bits, '')} | {np.median(cos):.5f} | {cos.min():.5f} | "
                      f"{agree:.2f} | {accuracy} | {timed[bits]:.3f} | {timed['FP32'] / timed[bits]:.2f}x |",
                      flush=True)


if __name__ == "__main__":
    main()
