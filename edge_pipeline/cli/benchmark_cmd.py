"""Time artifact files on this machine (.onnx, .ort, OpenVINO .xml, TensorRT .engine, ExecuTorch .pte).

Needs only numpy and the artifact's runtime, no export tooling, and no torch except for a .pte
(ExecuTorch's runtime links against torch's libraries). On a device install
`pip install 'edge-pipeline[device-onnxruntime]'` (or device-openvino, device-executorch) and copy
the bundle over.

Sweeps batch sizes x threads (x streams for OpenVINO); reports cold start (runtime import, load,
first inference) apart from steady-state latency (p50/p90/p99, median 95% CI, MAD, outliers), and
a host fingerprint (CPU, governor, clocks, memory, OS, runtime versions; Jetson board, nvpmodel
power mode and clock locks). --out FILE writes JSON and a CSV beside it; --out FOLDER (an existing
one) writes FOLDER/benchmark.json and FOLDER/benchmark.csv. The location is checked before timing.

  edge-pipeline benchmark bundle/artifacts/*/*/*/model.int8.onnx --threads 1,2 --out jetson.json
  edge-pipeline benchmark --compare x86.json jetson.json
  edge-pipeline benchmark model.onnx --provider cuda,cpu --profile   # ORT on the GPU, top layers by time
  edge-pipeline benchmark --device jetson model.int8.onnx --out jetson.json   # on a board over ssh (devices.yaml)
  edge-pipeline benchmark --device jetson --bundle bundle   # the bundle's artifacts there; device rows into it
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_pipeline.benchmarking.profiles import DEFAULT_TOP
from edge_pipeline.benchmarking.profiles import render as render_profile
from edge_pipeline.cli.output import print_result
from edge_pipeline.config import bounds
from edge_pipeline.config.bounds import float_in, int_in, int_list_in
from edge_pipeline.errors import ConfigError


def _layer_count(text: str) -> int:
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"'{text}' is not a count of layers (1 or more)")


def warmup_value(text: str) -> int | str:
    if text == "auto":
        return text
    if text.isdigit():
        return int_in(bounds.WARMUP)(text)
    raise argparse.ArgumentTypeError(f"'{text}' is neither a count of untimed runs (e.g. 20) nor 'auto'")


def add_arguments(parser) -> None:
    parser.add_argument("artifacts", nargs="*", type=Path, help="model files to time")
    # Bounded like the recipe's benchmark section: a huge count would time until interrupted.
    parser.add_argument("--batch-sizes", type=int_list_in(bounds.BATCH_SIZE), default=[1],
                        help="comma-separated, e.g. 1,8")
    parser.add_argument("--threads", type=int_list_in(bounds.THREADS), default=[2], help="comma-separated, e.g. 1,2,4")
    parser.add_argument("--variant", default=None,
                        help="runtime mode, e.g. OpenVINO f32 or bf16 "
                             "(default: f32 for OpenVINO, the runtime's own elsewhere)")
    parser.add_argument("--warmup", type=warmup_value, default=20,
                        help="untimed runs first, or 'auto': until the median of 10 runs moves < 5%%")
    parser.add_argument("--iterations", type=int_in(bounds.ITERATIONS), default=200,
                        help="timed runs per configuration")
    parser.add_argument("--rounds", type=int_in(bounds.ROUNDS), default=1,
                        help="time every file this many times, files in turn, each in a fresh process; samples pooled")
    parser.add_argument("--time-budget", type=float_in(bounds.TIME_BUDGET_S), default=None,
                        help="stop timing a configuration after this many s")
    parser.add_argument("--data", type=Path, default=None, help="inputs to time with (.npz with 'x' or .npy)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write results JSON to this file and the CSV beside it; an existing folder gets "
                             "benchmark.json and benchmark.csv inside it")
    parser.add_argument("--csv", type=Path, default=None, help="write the CSV here instead")
    parser.add_argument("--profile", action="store_true",
                        help="also profile each configuration per layer (ONNX Runtime's session profiler, "
                             "OpenVINO's performance counters) in a separate, untimed session: the top layers by "
                             "time go into the results and a table here; with --out, ORT's traces are kept in "
                             "<out name>-profiles/")
    parser.add_argument("--profile-top", type=_layer_count, default=DEFAULT_TOP, metavar="N",
                        help=f"layers a profile shows (default {DEFAULT_TOP})")
    parser.add_argument("--device", action="append", default=None, metavar="NAME",
                        help="time on this device of the devices file over ssh instead of here (repeat for several, "
                             "timed in parallel; each gets its own result files)")
    parser.add_argument("--bundle", type=Path, default=None, metavar="DIR",
                        help="with --device: time this bundle's artifacts of the targets each device serves (or the "
                             "artifacts named) and attach the rows to its reports as device rows")
    parser.add_argument("--devices", type=Path, default=None, metavar="FILE",
                        help="the devices file (default: $EDGE_PIPELINE_DEVICES, else ./devices.yaml)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), default=None,
                        help="print B/A latency ratios per matching configuration of two result files")
    _add_backend_arguments(parser)


def _add_backend_arguments(parser) -> None:
    """Each backend's own flags, from its registry row (argparse only: no runtime is imported)."""
    from edge_pipeline.backends.registry import BACKENDS, import_reference

    for row in BACKENDS.values():
        if row.cli_arguments:
            import_reference(row.cli_arguments)(parser)


def execute(args) -> int:
    from edge_pipeline import api

    if args.compare:
        if args.artifacts:
            raise ConfigError(
                "--compare takes two result files and no artifacts; run the benchmark and compare separately"
            )
        return _print_comparison(api.compare_benchmarks(*args.compare), args.compare)
    if args.bundle is not None and not args.device:
        raise ConfigError("--bundle attaches device rows: name the device too, e.g. --device jetson --bundle "
                          f"{args.bundle}")
    if not args.artifacts and args.bundle is None:
        raise ConfigError("name at least one artifact to time, e.g. edge-pipeline benchmark model.onnx")
    if args.device:
        return _on_devices(args)
    report = api.benchmark(args.artifacts, args.out, args.data, args.batch_sizes, args.threads, args.warmup,
                           args.iterations, getattr(args, "streams", None), args.csv, args.time_budget, args.variant,
                           args.rounds, getattr(args, "providers", None), args.profile_top if args.profile else None)
    for measured in report["results"]:
        _print_result(measured)
    if args.out is not None:
        from edge_pipeline.standalone import benchmark_outputs

        # The same mapping the API wrote with (a folder -> folder/benchmark.json), on the given paths.
        out, csv = benchmark_outputs(args.out, args.csv)
        print_result(json.dumps({"written": str(out), "csv": str(csv)}))
    return 0


def _on_devices(args) -> int:
    """Each device's results as locally, under a line naming it; a failed device's partial results
    too, before its error."""
    from edge_pipeline import api
    from edge_pipeline.remote.result_files import DevicesFailedError

    flags = (args.batch_sizes, args.threads, args.warmup, args.iterations, getattr(args, "streams", None), args.csv,
             args.time_budget, args.variant, args.rounds, getattr(args, "providers", None),
             args.profile_top if args.profile else None)
    try:
        if args.bundle is not None:
            reports = api.benchmark_bundle_on_devices(args.device, args.bundle, args.artifacts, args.devices,
                                                      args.out, args.data, *flags)
        else:
            reports = api.benchmark_on_devices(args.device, args.artifacts, args.devices, args.out, args.data,
                                               *flags)
    except DevicesFailedError as failed:
        _print_device_reports(failed.reports, failed.written)
        raise
    from edge_pipeline.remote.result_files import device_outputs

    _print_device_reports(reports, {name: device_outputs(args.out, args.csv, name, len(reports) > 1)
                                    for name in reports})
    if args.bundle is not None:
        print_result(json.dumps({"bundle": str(args.bundle), "device_rows": sorted(reports)}))
    return 0


def _print_device_reports(reports: dict[str, dict], written: dict) -> None:
    for name, report in reports.items():
        partial = "  (partial)" if report.get("partial") else ""
        print_result(f"device {name}: {report['host'].get('hostname')} ({report['host'].get('cpu_model')}){partial}")
        for measured in report["results"]:
            _print_result(measured)
        out, csv = written.get(name, (None, None))
        if out is not None:
            print_result(json.dumps({"device": name, "written": str(out), "csv": str(csv)}))


def _print_result(measured: dict) -> None:
    cold = measured.get("process_cold_start") or {}
    if cold:
        print_result(f"{measured['artifact']}  cold start: import {cold['runtime_import_s'] * 1e3:.0f} ms + load "
              f"{cold['load_s'] * 1e3:.1f} ms + first inference {cold['first_inference_ms']:.2f} ms")
    for config in measured["configs"]:
        where = f"batch {config['batch_size']}  threads {config['threads']}"
        if config.get("streams") is not None:
            where += f"  streams {config['streams']}"
        where += _providers_note(config.get("runtime_info") or {})
        if "skipped" in config:
            print_result(f"{measured['artifact']}  {where}  skipped: {config['skipped']}")
            continue
        lat = config["latency_ms"]
        # A TensorRT bundle's script (timed on a device) reports percentiles without CI or outliers.
        ci = " [95% CI {:.3f}-{:.3f}]".format(*lat["median_ci95"]) if lat.get("median_ci95") else ""
        spread = f"outliers {lat['outliers']}/{lat['n']}" if "outliers" in lat else f"n {lat['n']}"
        print_result(
            f"{measured['artifact']}  {where}  p50 {lat['p50']:.3f} ms{ci}  "
            f"p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  {spread}  {config['throughput_per_s']:.0f}/s"
        )
        if config.get("profile"):
            for line in render_profile(config["profile"]):
                print_result(line)


def _providers_note(info: dict) -> str:
    """'  on cuda,cpu' where ORT ran on providers other than its CPU default: what it actually assigned."""
    if info.get("providers_requested", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]:
        return ""
    from edge_pipeline.backends.onnxruntime.providers import short_name

    return f"  on {','.join(short_name(name) for name in info.get('providers', []))}"


def _print_comparison(comparison: dict, files: list[Path]) -> int:
    from edge_pipeline.benchmarking.results import render_comparison

    print_result(render_comparison(comparison, (str(files[0]), str(files[1]))))
    return 0
