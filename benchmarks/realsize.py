"""Real-size models through the pipeline's recipe path, side by side with what users would pick instead.

    .venv/bin/python benchmarks/realsize.py [--models resnet18,mobilenet_v2,bert] [--rounds 3]
        [--iterations 40] [--batch-sizes 1,8] [--backends onnxruntime,openvino,executorch] [--quick]

Models (benchmarks/realsize_models.py, plain torch, random weights, BatchNorm statistics set by
train-mode passes over random images): ResNet-18 and MobileNetV2 at 3×224×224, a BERT-base-shaped
encoder at sequence 128; ``digits_teacher`` and ``digits_student`` are the embedded default's
SmallResNet shapes on 1×8×8 (its sub-millisecond IRs, for the benchmark_app parity). Each goes
through ``api.run`` with a recipe written to a temporary folder: export -> quantize -> benchmark
on x86-cpu-onnxruntime, x86-cpu-openvino and x86-cpu-executorch (``--backends`` picks; the
pipeline's INT8: ONNX Runtime U8S8 QDQ with its presets and fidelity floor, OpenVINO NNCF with the
target's settings, ExecuTorch PT2E lowered to the XNNPACK delegate; ExecuTorch is skipped, with the
reason, where the executorch package is not installed).

Peers, made in the same run from the same exported ONNX file (ExecuTorch has none: its rows are
FP32 and the pipeline's INT8 ``.pte``, timed at the program's fixed batch, 1, only):
- ``ort-defaults``: ``onnxruntime.quantization.quantize_static`` with every default (QDQ, S8S8,
  per-tensor weights, MinMax) on the same calibration samples;
- ``nncf-defaults``: ``nncf.quantize`` with default parameters on ``ov.convert_model`` of that file.
- ``olive-defaults``: Olive's ``OnnxStaticQuantization`` pass with default parameters (QDQ, S8S8,
  per-tensor, MinMax, ORT's pre-processing), where olive-ai is installed (the ``[bench]`` extra;
  otherwise skipped with the reason; ``--no-olive`` leaves it out).

Then every artifact (FP32, ours, the peer; per backend; OpenVINO's FP32 IR also under the bf16
hint where the CPU has bf16), at each batch size, is timed ``--rounds`` times in the
pipeline's own worker process (fresh per round; the order rotates each round, so a shared
machine's drift favours none), and every OpenVINO IR also by ``benchmark_app`` in the same round
with the same compile properties (-load_config), sync API, inference only. Printed, one table:
p50 (median of the per-round medians) by our clock around each call, by OpenVINO's own timer of the
same calls (request.latency, what benchmark_app reports), benchmark_app's median; speedup over the
same backend's FP32 from the same rounds; cosine of every output to that FP32 on held-out inputs;
size on disk; the kernels the OpenVINO CPU plugin chose for the compute layers (ONNX Runtime reports
none: its optimized graph's compute layers by MLAS's dispatch rules, backends/onnxruntime/mlas.py;
ExecuTorch: a dash in the table, and below it each ``.pte``'s delegation report: its compute layers
by kernel and precision, the operators left to the portable kernels); the CPU model, flags and
load. Figures hold for the CPU they were measured on only.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from gemm_ceiling import measured_peak_macs_per_s  # the modules beside this script
from ov_benchmark_app import benchmark_app_median

from edge_pipeline import api
from edge_pipeline.backends.openvino.options import parse_options
from edge_pipeline.backends.openvino.runner import compile_config
from edge_pipeline.backends.registry import install_hint, installed
from edge_pipeline.benchmarking.harness import run_worker
from edge_pipeline.benchmarking.host import cpu_flag_set, cpu_flags, cpu_model
from edge_pipeline.config.recipes import load_target
from edge_pipeline.modeling.complexity import onnx_complexity

HERE = Path(__file__).resolve().parent
ORT, OV, ET = "x86-cpu-onnxruntime", "x86-cpu-openvino", "x86-cpu-executorch"
TARGETS = {"onnxruntime": ORT, "openvino": OV, "executorch": ET}  # --backends names -> the target timed
SEQUENCE = 128
VOCAB = 30522
THREADS = 2
FP32_LABEL, BF16_LABEL = "FP32", "FP32 bf16 hint"
# Peer vs ours closer than this (median of per-round ratios) is not called a win: on a shared VM
# single rounds move by 10-30% (see the per-round figures the script prints).
SAME_SPEED = 0.10


def model_specs(args) -> dict[str, dict]:
    image = [1, 3, args.image_size, args.image_size]
    cnn_inputs = [{"name": "pixels", "shape": image, "dtype": "float32"}]
    text_inputs = [
        {"name": "input_ids", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, VOCAB]},
        {"name": "attention_mask", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, 2]},
    ]
    digits = [{"name": "input", "shape": [1, 1, 8, 8], "dtype": "float32"}]
    bert = {"vocab": VOCAB, "dim": args.bert_dim, "heads": args.bert_dim // 64, "layers": args.bert_layers,
            "mlp": 4 * args.bert_dim, "max_length": 512}
    return {
        "resnet18": {"factory": "resnet18", "kwargs": {"image_size": args.image_size}, "inputs": cnn_inputs,
                     "outputs": ["logits"], "data": image_arrays},
        "mobilenet_v2": {"factory": "mobilenet_v2", "kwargs": {"image_size": args.image_size},
                         "inputs": cnn_inputs, "outputs": ["logits"], "data": image_arrays},
        "bert": {"factory": "bert_encoder", "kwargs": bert, "inputs": text_inputs, "outputs": ["embedding"],
                 "data": token_arrays},
        "digits_teacher": {"factory": "digits_resnet", "kwargs": {"widths": [128, 256, 512]}, "inputs": digits,
                           "outputs": ["logits"], "data": image_arrays},
        "digits_student": {"factory": "digits_resnet", "kwargs": {"widths": [64, 128, 256]}, "inputs": digits,
                           "outputs": ["logits"], "data": image_arrays},
    }


def image_arrays(count: int, seed: int, inputs: list[dict]) -> dict[str, np.ndarray]:
    """Random images: standard normal, as the BatchNorm statistics were set on (a normalized image's scale)."""
    shape = inputs[0]["shape"][1:]
    return {inputs[0]["name"]: np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)}


def token_arrays(count: int, seed: int, inputs: list[dict]) -> dict[str, np.ndarray]:
    """Token ids in [1, VOCAB) with padding (id 0, mask 0) after a random length of 32..128."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, size=(count, SEQUENCE)).astype(np.int64)
    lengths = rng.integers(SEQUENCE // 4, SEQUENCE + 1, size=count)
    mask = (np.arange(SEQUENCE)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask}


def recipe(name: str, spec: dict, work: Path, args) -> dict:
    return {
        "metadata": {"name": f"realsize-{name}"},
        "model": {"factory": f"{HERE / 'realsize_models.py'}:{spec['factory']}", "kwargs": spec["kwargs"]},
        "inputs": spec["inputs"],
        "outputs": spec["outputs"], "class_score_outputs": [],
        "data": {"calibration": {"path": str(work / "calibration.npz")}, "eval": {"path": str(work / "eval.npz")}},
        "targets": args.targets,
        "stages": ["export", "quantize", "benchmark"],
        "quantize": {"samples": args.calibration},
        # The pipeline's own timing, one round: the table below re-times everything side by side.
        "benchmark": {"warmup": args.warmup, "iterations": args.iterations, "rounds": 1,
                      "batch_sizes": [1], "threads": [THREADS], "time_budget_s": args.budget},
    }


def through_pipeline(name: str, spec: dict, work: Path, args) -> tuple[Path, list[dict], dict[str, np.ndarray]]:
    """api.run on the model's recipe; returns the bundle, its report rows and the calibration arrays."""
    work.mkdir(parents=True, exist_ok=True)
    calibration = spec["data"](args.calibration, 1, spec["inputs"])
    np.savez(work / "calibration.npz", **calibration)
    np.savez(work / "eval.npz", **spec["data"](args.eval, 2, spec["inputs"]))
    (work / "recipe.yaml").write_text(yaml.safe_dump(recipe(name, spec, work, args)))
    started = time.perf_counter()
    bundle = api.run(work / "recipe.yaml", work / "bundle", cache_dir=args.cache)
    print(f"[{name}] api.run (export, quantize, benchmark) {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return bundle, json.loads((bundle / "report.json").read_text())["results"], calibration


def ort_defaults(fp32_onnx: Path, calibration: dict[str, np.ndarray], out: Path) -> Path:
    """What an ONNX Runtime user writes first: quantize_static with every default (QDQ, S8S8, MinMax,
    per-tensor weights), the same calibration samples."""
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            count = len(next(iter(calibration.values())))
            self.items = iter([{k: v[i : i + 1] for k, v in calibration.items()} for i in range(count)])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(fp32_onnx), str(out), Reader())
    return out


def nncf_defaults(fp32_onnx: Path, calibration: dict[str, np.ndarray], out: Path) -> Path:
    """What an OpenVINO user writes first: ov.convert_model, then nncf.quantize with default
    parameters (performance preset, no model_type) on the same calibration samples."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(fp32_onnx))
    count = len(next(iter(calibration.values())))
    items = [{k: v[i : i + 1] for k, v in calibration.items()} for i in range(count)]
    quantized = nncf.quantize(model, nncf.Dataset(items))
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return out


# Olive reads calibration data through its data registry: a dataset function in a user script. Its
# registry is per process and keeps the first function of a name: one name per model.
OLIVE_SCRIPT = """
import numpy as np
import torch
from olive.data.registry import Registry


@Registry.register_dataset("{name}")
def calibration(path):
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    count = len(next(iter(arrays.values())))
    return [({name: torch.from_numpy(a[i]) for name, a in arrays.items()}, 0) for i in range(count)]
"""


def olive_installed() -> str | None:
    """None where Olive imports, else why not (the peer is then skipped with that reason)."""
    try:
        import olive  # noqa: F401
    except ImportError as exc:
        return f"olive-ai not installed ({exc}); pip install -c constraints.txt 'edge-pipeline[bench]'"
    return None


def olive_defaults(fp32_onnx: Path, calibration: dict[str, np.ndarray], out: Path) -> Path:
    """What an Olive user writes first: its OnnxStaticQuantization pass with default parameters (QDQ,
    signed activations and weights, per-tensor, MinMax, ORT's pre-processing), same samples."""
    from olive.workflows import run as olive_run

    work = out.parent / "olive"
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "calibration.npz", **calibration)
    dataset = f"realsize_calibration_{hashlib.sha256(str(work).encode()).hexdigest()[:12]}"
    (work / "calibration_data.py").write_text(OLIVE_SCRIPT.replace("{name}", dataset))
    accelerators = [{"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]
    config = {
        "input_model": {"type": "ONNXModel", "model_path": str(fp32_onnx)},
        "systems": {"local": {"type": "LocalSystem", "accelerators": accelerators}},
        "data_configs": [{"name": "calibration", "user_script": str(work / "calibration_data.py"),
                          "load_dataset_config": {"type": dataset,
                                                  "params": {"path": str(work / "calibration.npz")}}}],
        "passes": {"quantize": {"type": "OnnxStaticQuantization", "data_config": "calibration"}},
        "host": "local", "target": "local", "output_dir": str(work / "output"), "cache_dir": str(work / "cache"),
        "log_severity_level": 3,
    }
    olive_run(config)
    found = sorted((work / "output").rglob("*.onnx"))
    if not found:
        raise SystemExit(f"Olive wrote no model under {work / 'output'}")
    shutil.copy2(found[0], out)
    for extra in found[0].parent.glob(found[0].name + ".*"):  # external weights travel with it
        shutil.copy2(extra, out.parent / extra.name.replace(found[0].name, out.name))
    return out


def artifact_size(path: Path) -> int:
    if path.suffix == ".xml":
        return path.stat().st_size + path.with_suffix(".bin").stat().st_size
    extra = [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]  # external data
    return path.stat().st_size + sum(p.stat().st_size for p in extra)


def olive_entry(name: str, common: dict, onnx_fp32: Path, calibration: dict, work: Path) -> list[dict]:
    """The Olive peer on ONNX Runtime, or nothing (with the reason) where olive-ai is not installed."""
    if (missing := olive_installed()) is not None:
        print(f"[{name}] olive-defaults skipped: {missing}", file=sys.stderr)
        return []
    started = time.perf_counter()
    path = olive_defaults(onnx_fp32, calibration, work / "olive-defaults.onnx")
    print(f"[{name}] olive-defaults quantized in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return [{**common, "label": "INT8 olive-defaults", "path": path}]


def worker_job(entry: dict, spec: dict, eval_path: Path, args, outputs: Path | None) -> dict:
    job = {
        "backend": entry["backend"], "artifact": str(entry["path"]), "variant": entry["variant"],
        "settings": entry["settings"], "batch_sizes": [entry["batch"]], "threads": [THREADS], "warmup": args.warmup,
        "iterations": args.iterations, "time_budget_s": args.budget, "eval_batch_size": 8,
        "inputs": [{"name": i["name"], "sample_shape": i["shape"][1:], "dtype": i["dtype"],
                    "value_range": i.get("value_range")} for i in spec["inputs"]],
        "eval_inputs": str(eval_path),  # its first sample is also the timed batch, as in the benchmark stage
    }
    if outputs is not None:
        job["outputs_out"] = str(outputs)
    return job


def benchmark_app(entry: dict, spec: dict, args, tmp: Path) -> float:
    """benchmark_app on the same IR with the compile properties our runner sets (one function makes
    both), sync API, inference only; its median latency in ms."""
    config = compile_config(parse_options(entry["settings"], "realsize benchmark"), THREADS, entry["variant"])
    shapes = ",".join(f"{i['name']}[{','.join(map(str, [entry['batch'], *i['shape'][1:]]))}]" for i in spec["inputs"])
    # Bounded like our worker (--budget); its median, like ours, does not depend on the count.
    return benchmark_app_median(entry["path"], config, shapes, tmp, args.iterations, max(1, round(args.budget)))


def exported_onnx(bundle: Path) -> Path:
    """The export stage's FP32 ONNX (every peer quantizes it; its MACs are every row's)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    (path,) = [a["path"] for a in manifest["artifacts"]
               if a["kind"] == "onnx" and a["stage"] == "export" and a["precision"] == "fp32"]
    return bundle / path


PEERS = {ORT: ("ort-defaults", ort_defaults, ".onnx"), OV: ("nncf-defaults", nncf_defaults, ".xml")}


def pte_batch(path: Path) -> int:
    """A .pte runs at its program's static shapes: the batch its .pte.json gives the first input."""
    return int(json.loads(Path(str(path) + ".json").read_text())["inputs"][0]["shape"][0])


def entries_for(name: str, bundle: Path, rows: list[dict], calibration: dict, work: Path, args) -> list[dict]:
    """FP32, ours and the peer on each backend (OpenVINO's FP32 IR also under the bf16 hint where
    the pipeline timed that row; ExecuTorch has no peer), FP32 first; each at every batch size the
    artifact takes (a .pte only at its program's fixed batch)."""
    found = {(r["target"], r["precision"], r["runtime_variant"]): r for r in rows if r["batch_size"] == 1}
    found.update({(t, p): r for (t, p, v), r in found.items() if t != OV or v == "f32"})
    entries = []
    onnx_fp32 = exported_onnx(bundle)
    macs = onnx_complexity(onnx_fp32)["macs"]
    for target in args.targets:
        settings = load_target(target).options
        fp32, int8 = found[(target, "fp32")], found[(target, "int8")]
        common = {"model": name, "target": target, "backend": fp32["backend"], "settings": settings, "macs": macs}
        made = [{**common, "label": FP32_LABEL, "path": bundle / fp32["artifact"], "variant": fp32["runtime_variant"]}]
        if (bf16 := found.get((target, "fp32", "bf16"))) is not None:
            made.append({**common, "label": BF16_LABEL, "path": bundle / bf16["artifact"], "variant": "bf16"})
        made.append({**common, "label": "INT8 ours", "path": bundle / int8["artifact"],
                     "variant": int8["runtime_variant"]})
        if target in PEERS:
            peer, make_peer, suffix = PEERS[target]
            started = time.perf_counter()
            path = make_peer(onnx_fp32, calibration, work / f"{peer}{suffix}")
            print(f"[{name}] {peer} quantized in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            made.append({**common, "label": f"INT8 {peer}", "path": path, "variant": int8["runtime_variant"]})
        if target == ORT and args.olive:
            made += olive_entry(name, {**common, "variant": int8["runtime_variant"]}, onnx_fp32, calibration, work)
        batches = args.batch_sizes
        if target == ET:
            fixed = {pte_batch(entry["path"]) for entry in made}
            batches = [b for b in args.batch_sizes if b in fixed]
            if left := [b for b in args.batch_sizes if b not in fixed]:
                print(f"[{name}] executorch: batch {', '.join(map(str, left))} not timed (a .pte runs at its "
                      f"program's fixed batch, {', '.join(map(str, sorted(fixed)))})", file=sys.stderr)
        entries += [{**entry, "batch": batch} for batch in batches for entry in made]
    return entries


class StopSignalError(Exception):
    """SIGTERM (a `timeout` around the run): the table is printed from the rounds that finished."""


STOP_REQUESTED: list[bool] = []  # set by the handler: `timeout` signals the whole group, workers too


def stop_on_sigterm() -> None:
    def handler(signum, frame):
        STOP_REQUESTED.append(True)
        raise StopSignalError

    signal.signal(signal.SIGTERM, handler)


def time_side_by_side(entries: list[dict], specs: dict, works: dict, args) -> None:
    """Every entry once per round in a fresh worker; OpenVINO IRs also by benchmark_app, our worker
    and benchmark_app alternating which goes first. The entry order rotates each round. StopSignalError
    part-way, only the rounds that finished count."""
    for entry in entries:
        entry.update(ours=[], clock=[], app=[], kernels=None)
    outputs_by_run: dict[tuple, dict] = {}  # one set of outputs per (artifact, variant), any batch
    done = args.rounds
    try:
        _time_rounds(entries, specs, works, args, outputs_by_run)
    except Exception:
        if not STOP_REQUESTED:
            raise
        done = min(len(e["ours"]) for e in entries)
        print(f"stopped: {done} full rounds of {args.rounds} are in the table", file=sys.stderr)
        args.rounds = done
        for entry in entries:
            for key in ("ours", "clock", "app"):
                del entry[key][done:]
    if done == 0:
        raise SystemExit("stopped before one full round finished: nothing to print")
    for entry in entries:
        entry["outputs"] = outputs_by_run[(str(entry["path"]), entry["variant"])]


def _time_rounds(entries: list[dict], specs: dict, works: dict, args, outputs_by_run: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="realsize-timing-") as scratch:
        tmp = Path(scratch)
        for round_index in range(args.rounds):
            shift = round_index % len(entries)
            for position, entry in enumerate(entries[shift:] + entries[:shift]):
                spec, work = specs[entry["model"]], works[entry["model"]]
                run_key = (str(entry["path"]), entry["variant"])
                outputs = tmp / f"outputs-{id(entry)}.npz" if run_key not in outputs_by_run else None
                tools = ["ours", "app"] if entry["target"] == OV else ["ours"]
                if (round_index + position) % 2:
                    tools.reverse()
                for tool in tools:
                    if tool == "app":
                        entry["app"].append(benchmark_app(entry, spec, args, tmp))
                        continue
                    job = worker_job(entry, spec, work / "eval.npz", args, outputs)
                    (config,) = run_worker(job, tmp / "worker")["configs"]
                    # OpenVINO rows are timed by its own clock (request.latency); ours is beside it.
                    if config.get("latency_clock") == "runtime":
                        entry["ours"].append(config["call_clock_ms"]["p50"])
                        entry["clock"].append(config["latency_ms"]["p50"])
                    else:
                        entry["ours"].append(config["latency_ms"]["p50"])
                    kernels = (config.get("runtime_info") or {}).get("compute_layer_kernels")
                    entry["kernels"] = kernels
                    entry["threadpool"] = (config.get("runtime_info") or {}).get("threadpool_threads")
                    if outputs is not None:
                        with np.load(outputs) as data:
                            outputs_by_run[run_key] = {k: data[k] for k in data.files}
            print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)


def efficiency_cells(entry: dict, p50_ms: float) -> str:
    """Achieved GMAC/s and its share of the precision's measured ceiling (FP32 artifacts at the FP32 one)."""
    achieved = entry["batch"] * entry["macs"] / (p50_ms / 1e3)
    precision = {FP32_LABEL: "fp32", BF16_LABEL: "bf16"}.get(entry["label"], "int8")
    peak = measured_peak_macs_per_s(precision, THREADS)
    share = "-" if not peak else f"{achieved / peak:.1%}" + (" (above the measured ceiling)" if achieved > peak else "")
    return f"{achieved / 1e9:.0f} | {share}"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over samples of the per-sample cosine (the pipeline's fidelity.cosine convention)."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.sum(a * b, axis=1) / np.maximum(norms, 1e-30)))


@functools.cache
def ort_kernels(path: Path) -> dict:
    """ORT reports no kernels: its optimized graph by MLAS's dispatch rules (one session per file,
    whatever the batch sizes its rows were timed at)."""
    from edge_pipeline.backends.onnxruntime.mlas import compute_kernels

    return dict(compute_kernels(path, cpu_flag_set()))


def kernel_summary(kernels: dict | None, backend: str, path: Path) -> str:
    if backend == "executorch":
        return "-"  # no kernel report: its delegation report is printed below the table
    if backend == "onnxruntime":
        kernels = ort_kernels(path)
    if not kernels:
        return "?"
    return ", ".join(f"{k}×{v}" for k, v in sorted(kernels.items(), key=lambda kv: -kv[1]))


def print_table(entries: list[dict], args, load_start, load_end, started_utc: str) -> None:
    flags = ", ".join(cpu_flags()) or "n/a"
    print(f"\nhost: {cpu_model()} | flags: {flags} | {os.cpu_count()} CPUs")
    print(f"run started {started_utc}, load average 1/5/15 min: at start {load_start}, at end {load_end}")
    print(f"batch {', '.join(map(str, args.batch_sizes))}; {THREADS} threads, {args.rounds} rounds × "
          f"{args.iterations} iterations (warm-up {args.warmup}, "
          f"budget {args.budget} s per worker), calibration {args.calibration} samples, cosine over {args.eval} "
          "held-out samples, every output")
    print("p50 = median over rounds of each round's p50. ours: our clock around each call; OV timer: OpenVINO's "
          "own timer of the same calls (request.latency); app: benchmark_app's median. vs FP32: speedup over "
          "the same backend's FP32, median of per-round ratios.\n")
    peaks = ", ".join(f"{p} {v / 1e9:.1f} GMAC/s" for p in ("fp32", "int8", "bf16")
                      if (v := measured_peak_macs_per_s(p, THREADS)) is not None)
    print(f"ceiling for {THREADS} cores, the fastest of a large GEMM and two 3x3 convolutions per precision, each on "
          f"{THREADS} threads and on one thread times {THREADS}, measured now (benchmarks/gemm_ceiling.py): "
          f"{peaks or 'unknown'}; efficiency = MACs / p50 / that ceiling\n")
    print("| model | backend | batch | precision | p50 ms (ours) | OV timer p50 | benchmark_app p50 | ours / app "
          "| OV timer / app | OV timer / app per round | vs FP32 | cosine vs FP32 | size MB | GMAC/s | of ceiling "
          "| kernels (compute layers) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    baselines = {(e["model"], e["target"], e["batch"]): e for e in entries if e["label"] == FP32_LABEL}
    for entry in sorted(entries, key=lambda e: (e["model"], e["target"], e["batch"])):
        base = baselines[(entry["model"], entry["target"], entry["batch"])]
        ours = statistics.median(entry["ours"])
        ratio = statistics.median(b / o for b, o in zip(base["ours"], entry["ours"], strict=True))
        cos = min(cosine(entry["outputs"][k], base["outputs"][k]) for k in base["outputs"])
        clock = f"{statistics.median(entry['clock']):.2f}" if entry["clock"] else "-"
        app = statistics.median(entry["app"]) if entry["app"] else None
        app_cells = (f"{app:.2f} | {ours / app:.3f} | {statistics.median(entry['clock']) / app:.3f} "
                     f"| {paired_ratio(entry['clock'], entry['app']):.3f}"
                     if app and entry["clock"] else "- | - | - | -")
        print(f"| {entry['model']} | {entry['target'].removeprefix('x86-cpu-')} | {entry['batch']} | {entry['label']} "
              f"| {ours:.3f} "
              f"| {clock} | {app_cells} | {ratio:.2f}× | {cos:.4f} | {artifact_size(entry['path']) / 1e6:.1f} "
              f"| {efficiency_cells(entry, ours)} "
              f"| {kernel_summary(entry['kernels'], entry['backend'], entry['path'])} |")
    print("\nper round (ours p50 ms):")
    for entry in entries:
        print(f"  {entry['model']:<14} {entry['target'].removeprefix('x86-cpu-'):<11} b{entry['batch']:<2} "
              f"{entry['label']:<19} " + ", ".join(f"{v:.3f}" for v in entry["ours"])
              + ("   OV timer: " + ", ".join(f"{v:.3f}" for v in entry["clock"]) if entry["clock"] else "")
              + ("   benchmark_app: " + ", ".join(f"{v:.3f}" for v in entry["app"]) if entry["app"] else ""))
    print_delegation(entries)
    print_verdicts(entries, baselines)


def print_delegation(entries: list[dict]) -> None:
    """Each .pte's delegation report (its .pte.json): compute layers by kernel and precision (an
    INT8 layer in float, or one left to the portable kernels, is what slows an INT8 .pte down), the
    operators left to the portable kernels, and the threadpool the rows ran on."""
    ptes = {str(e["path"]): e for e in entries if e["backend"] == "executorch"}
    if not ptes:
        return
    print("\nExecuTorch delegation (the .pte.json beside each .pte):")
    for entry in ptes.values():
        sidecar = json.loads(Path(str(entry["path"]) + ".json").read_text())
        delegation = sidecar.get("delegation", {})
        layers: dict[str, int] = {}
        for layer in delegation.get("layers", []):
            key = f"{layer['op_type']} {layer['kernel']} {layer['precision']}"
            layers[key] = layers.get(key, 0) + 1
        summary = delegation.get("summary", {})
        portable = ", ".join(summary.get("portable_operators", [])) or "none"
        print(f"  {entry['model']:<14} {entry['label']:<10} {sidecar.get('delegate', '?')}: "
              + ", ".join(f"{k} ×{v}" for k, v in sorted(layers.items()))
              + f"; {summary.get('delegated_subgraphs', '?')} delegated subgraphs, "
              f"{summary.get('delegated_nodes', '?')} nodes delegated, {summary.get('portable_nodes', '?')} portable "
              f"(operators: {portable}); threadpool {entry.get('threadpool') or '?'} threads")


def paired_ratio(mine: list[float], theirs: list[float]) -> float:
    """Median of per-round ratios: the two tools time a round back to back, so a machine whose speed
    changes between rounds moves both (a round cut short by the time limit has no pair)."""
    return statistics.median(m / t for m, t in zip(mine, theirs, strict=False))


def print_verdicts(entries: list[dict], baselines: dict) -> None:
    """Where a peer beats our INT8: faster (median of per-round ratios) or closer to FP32."""
    print("\nours vs the peer on the same backend (same rounds):")
    for (model, target, batch), base in baselines.items():
        same = [e for e in entries if (e["model"], e["target"], e["batch"]) == (model, target, batch)]
        mine = next(e for e in same if e["label"] == "INT8 ours")
        for peer in (e for e in same if e["label"].startswith("INT8 ") and e is not mine):
            print_verdict(model, target, batch, base, mine, peer)


def print_verdict(model: str, target: str, batch: int, base: dict, mine: dict, peer: dict) -> None:
    speed = statistics.median(p / o for p, o in zip(peer["ours"], mine["ours"], strict=True))  # >1: ours faster
    cos_mine = min(cosine(mine["outputs"][k], base["outputs"][k]) for k in base["outputs"])
    cos_peer = min(cosine(peer["outputs"][k], base["outputs"][k]) for k in base["outputs"])
    faster = ("ours faster" if speed > 1 + SAME_SPEED else "peer faster" if speed < 1 / (1 + SAME_SPEED)
              else f"no clear difference (within {SAME_SPEED:.0%})")
    closer = "ours closer to FP32" if cos_mine > cos_peer else "peer closer to FP32"
    print(f"  {model:<14} {target.removeprefix('x86-cpu-'):<11} b{batch:<2} {peer['label'][5:]:<14} "
          f"peer p50 / ours p50 {speed:.2f} ({faster}); cosine ours {cos_mine:.4f} vs peer {cos_peer:.4f} "
          f"({closer})")


def backend_targets(backends: str) -> list[str]:
    """The targets --backends names, in its order; a backend whose package is missing is left out,
    saying why (a run with none left stops)."""
    targets = []
    for backend in backends.split(","):
        if backend not in TARGETS:
            raise SystemExit(f"--backends: unknown backend '{backend}'; choose from {', '.join(TARGETS)}")
        if not installed(backend):
            print(f"{TARGETS[backend]} skipped: the {backend} package is not installed here ({install_hint(backend)})",
                  file=sys.stderr)
            continue
        targets.append(TARGETS[backend])
    if not targets:
        raise SystemExit("no backend of --backends is installed here")
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet18,mobilenet_v2,bert")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--budget", type=float, default=15.0, help="seconds of timed calls per worker at most")
    parser.add_argument("--calibration", type=int, default=64, help="calibration samples")
    parser.add_argument("--eval", type=int, default=32, help="held-out samples for the cosine")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes to time")
    parser.add_argument("--backends", default=",".join(TARGETS),
                        help="comma-separated, of " + ", ".join(f"{b} ({t})" for b, t in TARGETS.items())
                        + "; executorch is skipped, with the reason, where the package is missing")
    parser.add_argument("--no-olive", dest="olive", action="store_false",
                        help="leave out the Olive peer (it runs where olive-ai is installed: the [bench] extra)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--bert-dim", type=int, default=768)
    parser.add_argument("--bert-layers", type=int, default=12)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 round, few iterations and samples (shapes unchanged)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--cache", type=Path, help="stage cache (default: inside the working folder)")
    args = parser.parse_args()
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.targets = backend_targets(args.backends)
    if args.quick:
        args.rounds, args.iterations, args.warmup, args.budget = 1, 5, 2, 5.0
        args.calibration, args.eval = 8, 4
    started_utc = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="realsize-") as scratch:
        root = args.work or Path(scratch)
        args.cache = args.cache or root / "cache"
        stop_on_sigterm()
        specs = model_specs(args)
        entries, works = [], {}
        for name in args.models.split(","):
            works[name] = root / name
            bundle, rows, calibration = through_pipeline(name, specs[name], works[name], args)
            entries += entries_for(name, bundle, rows, calibration, works[name], args)
        time_side_by_side(entries, specs, works, args)
        load_end = [round(x, 2) for x in os.getloadavg()]
        print_table(entries, args, load_start, load_end, started_utc)


if __name__ == "__main__":
    main()
