"""Latency-aware placement per kit model and CPU target: FP32, full INT8, mixed INT8 and the
recommended artifact's p50 at batch 1, each as a ratio to FP32 from the same rounds, and the layers
the mixed artifact keeps float for speed and for fidelity.

    .venv/bin/python benchmarks/int8_placement.py [--models pnet,...] [--targets T1,T2] [--work DIR]
                                                  [--json OUT] [--quick]

Models: edge_pipeline.testing.kit's KIT_MODELS and the public kit's pnet, rnet, onet, crnn and
torch-transformer; targets x86-cpu-onnxruntime and x86-cpu-openvino. Each runs export (or ONNX-in)
-> quantize (placement on) -> benchmark with the targets' own timing settings (three rounds of 200
iterations, each artifact in turn), on one CPU: the CPU's model and flags and the commit are printed
with the table, and --json writes the raw figures. --quick (pnet, one round of 20 iterations) only
shows that the script runs: its ratios say nothing. Figures belong on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import yaml

from edge_pipeline import api
from edge_pipeline.cpuinfo import cpu_flags, cpu_model
from edge_pipeline.errors import EdgePipelineError, PartialRunError
from edge_pipeline.testing.kit import KIT_MODELS, kit_recipe
from edge_pipeline.testing.public_kit import public_kit_recipe

PUBLIC = ("pnet", "rnet", "onet", "crnn", "torch-transformer")
MODELS = (*KIT_MODELS, *PUBLIC)
TARGETS = ("x86-cpu-onnxruntime", "x86-cpu-openvino")
QUICK_TIMING = {"warmup": 5, "iterations": 20, "rounds": 1}


def run_model(name: str, work: Path, targets: list[str], quick: bool) -> tuple[list[dict], list[dict]]:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    recipe = public_kit_recipe(name, folder) if name in PUBLIC else kit_recipe(name, folder)
    recipe.update(targets=targets, stages=["export", "quantize", "benchmark"])
    recipe["quantize"]["placement"] = "speed"
    # The targets' own timing settings (several rounds, each artifact in turn) unless --quick.
    recipe["benchmark"] = {**QUICK_TIMING, "threads": [2]} if quick else {}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    try:
        bundle = api.run(folder / "recipe.yaml", folder / "bundle", cache_dir=work / "cache")
        failures = []
    except PartialRunError as partial:
        bundle, failures = Path(partial.bundle), partial.failures
    except EdgePipelineError as error:
        return [], [{"model": name, "target": "all", "error": str(error)}]
    return _lines(name, bundle), [{"model": name, **f} for f in failures]


def _lines(name: str, bundle: Path) -> list[dict]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    report = json.loads((bundle / "report.json").read_text())
    meta = {a["id"]: a.get("meta", {}) for a in manifest["artifacts"]}
    lines = []
    for target, entry in sorted(report.get("recommended", {}).items()):
        p50 = {c["label"] if not c["artifact_id"].endswith("-mixed") else "mixed": c["p50_ms"]
               for c in entry.get("candidates", []) if c["runtime_variant"] != "bf16"}
        full = next((c for c in entry.get("candidates", []) if c["artifact_id"].endswith("/int8")), None)
        mixed_id = f"{entry.get('model')}/{target}/int8-mixed"
        placed = meta.get(mixed_id, {}).get("placement") or []
        fidelity = [row["node"] for row in placed if row["reason"] == "fidelity"] or list(
            (meta.get(full["artifact_id"], {}).get("fallback") or {}).get("kept_float", []) if full else [])
        lines.append({
            "model": name, "target": target, "fp32_ms": p50.get("FP32"),
            "int8_ms": full["p50_ms"] if full else None, "mixed_ms": p50.get("mixed"),
            "recommended": entry.get("label") or entry.get("status"), "recommended_ms": entry.get("p50_ms"),
            "speed_kept": [row["node"] for row in placed if row["reason"] == "speed"], "fidelity_kept": fidelity,
            "placement": (meta.get(full["artifact_id"], {}).get("placement_search") or {}).get("status") if full
            else None,
        })
    return lines


def _cell(ms: float | None, fp32: float | None) -> str:
    if ms is None:
        return "–"
    return f"{ms:.3f} ({fp32 / ms:.2f}x)" if fp32 else f"{ms:.3f}"


def _names(nodes: list[str]) -> str:
    return (", ".join(nodes[:4]) + (f" +{len(nodes) - 4}" if len(nodes) > 4 else "")) if nodes else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help=f"comma-separated subset of {','.join(MODELS)}")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated CPU targets")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument("--quick", action="store_true", help="pnet, one short round: checks the script runs")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else (["pnet"] if args.quick else list(MODELS))
    targets = [t.strip() for t in args.targets.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx2", "avx512_vnni", "avx512f", "avx_vnni", "amx")))
    header = f"CPU: {cpu_model()} ({', '.join(flags)}); commit {commit}; p50 ms at batch 1 (ratio to FP32)"
    print(header + ("; --quick: ratios say nothing" if args.quick else ""), flush=True)
    lines, failed = [], []
    with tempfile.TemporaryDirectory(prefix="int8-placement-") as scratch:
        work = args.work or Path(scratch)
        for name in models:
            found, failures = run_model(name.strip(), work, targets, args.quick)
            lines += found
            failed += failures
    print(f"\n| model | target | FP32 | full INT8 | mixed INT8 | recommended | kept float: speed | kept float: "
          f"fidelity |\n|{'---|' * 8}")
    for line in lines:
        fp32 = line["fp32_ms"]
        print(f"| {line['model']} | {line['target']} | {_cell(fp32, None)} | {_cell(line['int8_ms'], fp32)} | "
              f"{_cell(line['mixed_ms'], fp32)} | {line['recommended']} {_cell(line['recommended_ms'], fp32)} | "
              f"{_names(line['speed_kept'])} | {_names(line['fidelity_kept'])} |")
    for f in failed:
        print(f"failed: {f['model']} {f['target']}: {f.get('error', '')}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_model(), "flags": flags, "commit": commit, "quick": args.quick,
                                         "lines": lines, "failed": failed}, indent=2))


if __name__ == "__main__":
    main()
