"""The public kit (architectures the project did not design) through every target from a recipe and
data alone: per model, target and output the INT8 artifact's cosine to FP32, the INT8/FP32 latency
ratio from the same run, and what the fidelity fallback kept float and why; a target that fails is a
row with its one-line error.

    .venv/bin/python benchmarks/public_kit.py [--models hf-bert,...] [--targets T1,T2] [--work DIR]

Speed ratios come from the run's own benchmark stage (few iterations, one round): they say which way
INT8 goes on this CPU, not by how much. The CPU is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from edge_pipeline import api
from edge_pipeline.cpuinfo import cpu_flags, cpu_model
from edge_pipeline.errors import EdgePipelineError, PartialRunError
from edge_pipeline.testing.public_kit import PUBLIC_KIT_MODELS, public_kit_recipe


def run_model(name: str, work: Path, targets: list[str] | None) -> tuple[list[dict], list[dict], float]:
    folder = work / name
    recipe = public_kit_recipe(name, folder)
    if targets:
        recipe["targets"] = targets
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    started = time.monotonic()
    failures: list[dict] = []
    try:
        bundle = api.run(folder / "recipe.yaml", folder / "bundle", cache_dir=work / "cache")
    except PartialRunError as partial:
        bundle, failures = Path(partial.bundle), partial.failures
    except EdgePipelineError as error:
        return [], [{"target": "all", "stage": "?", "error": str(error)}], time.monotonic() - started
    return _rows(name, bundle), failures, time.monotonic() - started


def _rows(name: str, bundle: Path) -> list[dict]:
    manifest = json.loads((bundle / "manifest.json").read_text())
    report = json.loads((bundle / "report.json").read_text())
    speedup = {}  # the INT8 row's speedup over its target's FP32 row, timed in the same run
    for row in report["results"]:
        if row["batch_size"] == 1 and row["precision"] == "int8" and row["runtime_variant"] in ("default", "f32"):
            speedup.setdefault(row["target"], row.get("speedup_vs_baseline"))
    lines = []
    for artifact in manifest["artifacts"]:
        checked = artifact.get("meta", {}).get("fidelity_check")
        if artifact["precision"] != "int8" or not checked:
            continue
        ratio = f"{speedup[artifact['target']]:.2f}x" if speedup.get(artifact["target"]) else "not timed here"
        fallback = artifact["meta"].get("fallback") or {}
        kept = ", ".join(fallback.get("kept_float", [])) or "-"
        if fallback.get("strategy"):
            kept = f"{fallback['strategy']}; {kept}"
        for output, figures in checked.items():
            lines.append({"model": name, "target": artifact["target"], "artifact": artifact["id"].split("/", 2)[-1],
                          "output": output, "cosine": figures["cosine"], "ratio": ratio, "kept": kept})
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(PUBLIC_KIT_MODELS), help="comma-separated subset")
    parser.add_argument("--targets", help="comma-separated targets instead of the kit's four")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx2", "avx512_vnni", "avx512f", "amx")))
    print(f"CPU: {cpu_model()} ({', '.join(flags)}); commit {commit}")
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="public-kit-") as scratch:
        work = args.work or Path(scratch)
        targets = [t.strip() for t in args.targets.split(",")] if args.targets else None
        for name in args.models.split(","):
            lines, failures, seconds = run_model(name.strip(), work, targets)
            print(f"{name}: {seconds:.0f} s, {len(failures)} failed target(s)", flush=True)
            rows += lines
            failed += [{"model": name, **f} for f in failures]
    print(f"\n| model | target | artifact | output | cosine | INT8/FP32 speed | kept float |\n|{'---|' * 7}")
    for line in rows:
        print(f"| {line['model']} | {line['target']} | {line['artifact']} | {line['output']} | {line['cosine']:.4f} "
              f"| {line['ratio']} | {line['kept']} |")
    if failed:
        print(f"\n| model | target | stage | error |\n|{'---|' * 4}")
        for f in failed:
            print(f"| {f['model']} | {f['target']} | {f['stage']} | {f['error']} |")


if __name__ == "__main__":
    main()
