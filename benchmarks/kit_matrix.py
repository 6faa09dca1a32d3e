"""The public test kit's five models through all four x86/GPU/phone targets: fidelity per output.

    .venv/bin/python benchmarks/kit_matrix.py [--models encoder,...] [--targets T1,T2] [--work DIR] [--json OUT]

Each model (edge_pipeline.testing.kit.kit_recipe: a BERT-style encoder with int64 ids + mask, a
two-output detector with a task metric, a streaming audio model with recurrent state, an opset-12
ONNX file with dynamic H/W and Constant-node weights, a MobileNet-style CNN) runs export (or
ONNX-in) -> quantize -> benchmark on x86-cpu-onnxruntime, x86-cpu-openvino, x86-gpu-tensorrt (the
Q/DQ model in ONNX Runtime: 'ort-simulated', never a TensorRT figure) and android-arm64-onnxruntime
(host-run; its .ort files, not timed on an x86 host, by the quantize stage's own fidelity check).
Printed: every artifact x output with cosine and SQNR vs the same model's FP32 on its target; the
run fails (non-zero) where any artifact does not load or misses a floor. Timings are left out on
purpose: 10 iterations say nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml

from edge_pipeline import api
from edge_pipeline.testing.kit import KIT_MODELS, kit_recipe


def run_model(name: str, work: Path, targets: list[str] | None = None) -> list[dict]:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    recipe_path = folder / "recipe.yaml"
    recipe = kit_recipe(name, folder)
    if targets:
        recipe["targets"] = targets
    recipe_path.write_text(yaml.safe_dump(recipe))
    bundle = api.run(recipe_path, folder / "bundle", cache_dir=work / "cache")
    report = json.loads((bundle / "report.json").read_text())
    lines, seen = [], set()
    for row in report["results"]:
        key = (row["artifact_id"], row["runtime_variant"])
        if key in seen:
            continue
        seen.add(key)
        for output, figures in row["fidelity"].items():
            lines.append({"model": name, "target": row["target"], "artifact": row["artifact_id"].split("/", 2)[-1],
                          "runtime": f"{row['backend']}:{row['runtime_variant']}", "output": output,
                          "cosine": figures["cosine"], "sqnr_db": figures["sqnr_db"], "metrics": row["metrics"]})
    lines += _checked_not_timed(name, bundle, {artifact for artifact, _ in seen})
    for note in report["notes"]:
        print(f"  note ({name}): {note}")
    for group in report.get("mobile", []):
        for style, reason in (group.get("styles_not_shipped") or {}).items():
            print(f"  not shipped ({name}, {group['target']}): '{style}' .ort: {reason}")
    return lines


def _checked_not_timed(name: str, bundle: Path, timed: set[str]) -> list[dict]:
    """Artifacts with no benchmark row (the .ort files, left to the device on this host): the
    quantize stage's own fidelity check, from the manifest, on its fidelity samples."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    lines = []
    for artifact in manifest["artifacts"]:
        checked = artifact.get("meta", {}).get("fidelity_check")
        if artifact["id"] in timed or not checked:
            continue
        for output, figures in checked.items():
            lines.append({"model": name, "target": artifact["target"], "artifact": artifact["id"].split("/", 2)[-1],
                          "runtime": f"{artifact['backend']} (quantize check)", "output": output,
                          "cosine": figures["cosine"], "sqnr_db": figures["sqnr_db"], "metrics": None})
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(KIT_MODELS),
                        help="comma-separated subset of " + ", ".join(KIT_MODELS))
    parser.add_argument("--targets", help="comma-separated targets instead of the kit recipes' own "
                        "(e.g. x86-cpu-onnxruntime,x86-cpu-onnxruntime-avx2)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the table as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kit-matrix-") as scratch:
        work = args.work or Path(scratch)
        targets = [t.strip() for t in args.targets.split(",")] if args.targets else None
        lines = [line for name in args.models.split(",") for line in run_model(name.strip(), work, targets)]
    print(f"\n| model | target | artifact | runtime | output | cosine | SQNR dB |\n|{'---|' * 7}")
    for line in lines:
        # report.json writes a non-finite SQNR as null with sqnr_db_note (strict JSON)
        sqnr = "inf" if line["sqnr_db"] is None else f"{line['sqnr_db']:.1f}"
        print(f"| {line['model']} | {line['target']} | {line['artifact']} | {line['runtime']} | {line['output']} "
              f"| {line['cosine']:.4f} | {sqnr} |")
    if args.json:
        args.json.write_text(json.dumps(lines, indent=1))


if __name__ == "__main__":
    main()
