"""Every shell command the README and the docs pages show runs as written on a fresh clone, or is
accounted for.

The commands come from the ```bash / ```sh / ```console blocks of README.md and docs/**/*.md. The cheap ones run here,
through bash, in a temporary folder laid out like a checkout: `.venv` is this interpreter's, and
the files a command names as "yours" (model.onnx, recipe.yaml, the quickstart's `bundle`) are
small ones this test makes. `scripts/release` runs from a copy of the
script and baselines/ with `edge-pipeline run` replaced by a replay of the stored baseline, so its
argument handling, gates, summary and exit status are the real ones. The rest (the full default
run, the test suite, a pip install, synopses, the slow ones) are listed in COVERED_ELSEWHERE with
the test that covers each. A command
in neither list fails the first test, so a new one cannot go untested.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# The pages users read commands from: the README, then the documentation site's pages.
PAGES = [README, *sorted((REPO / "docs").rglob("*.md"))]
DIGITS = REPO / "edge_pipeline" / "calibration_data" / "digits"  # the embedded default's data, shipped in the package
VENV = Path(sys.prefix)  # the interpreter running the tests: the checkout's .venv under scripts/bootstrap
SHELL_FENCE = re.compile(r"^```(bash|sh|console)[^\n]*\n(.*?)^```", re.M | re.S)

# Commands that do not run here, each with what runs it instead.
COVERED_ELSEWHERE = {
    "./scripts/bootstrap && .venv/bin/edge-pipeline run --out bundle":
        "the full default (minutes): tests/integration/test_default_run.py runs this command with cut budgets",
    "./scripts/bootstrap && .venv/bin/python -m pytest":
        "the test suite itself; .ci/run runs it on a fresh venv",
    "pip install 'edge-pipeline[device-onnxruntime]'":
        "installs from a package index: tests/integration/test_device_benchmark.py times artifacts with torch, "
        "onnx and nncf unimportable (the device extra's environment); tests/packaging/test_wheel.py installs the wheel",
    ".venv/bin/edge-pipeline run --out bundle --set 'targets=[x86-cpu-onnxruntime,android-arm64-onnxruntime]'":
        "a full run (minutes): tests/integration/test_device_benchmark.py runs the pipeline with this override",
    ".venv/bin/edge-pipeline init --factory mymodel.py:build --input-shape 1,3,224,224 [--input-name x] "
    "[--out recipe.yaml]": "a synopsis ([...] marks optional flags) on the user's model file: tests/cli/test_init.py "
                           "runs init from a factory and then the recipe it wrote",
    ".venv/bin/edge-pipeline init --onnx model.onnx [--input-shape images=1,3,640,640]":
        "a synopsis ([...] marks optional flags): tests/cli/test_init.py runs init --onnx on a model with dynamic dims",
    ".venv/bin/edge-pipeline run recipe.yaml --out bundle":
        "a full run of the user's recipe: tests/cli/test_init.py runs the recipe init wrote, "
        "tests/integration/test_bring_your_own_model.py a user's model file",
    ".venv/bin/edge-pipeline quantize yolo.onnx --input-shape images=1,3,640,640 --calibration calib.npz "
    "--out q-yolo": "15 s more here (a torch import inside ONNX Runtime's pre-processing, 640x640 calibration): "
                    "tests/integration/test_onnx_source.py runs the quantize command on an opset-12 file with dynamic "
                    "H/W and --input-shape",
    ".venv/bin/edge-pipeline doctor": "probes every backend (12 s here): tests/cli/test_doctor_and_targets.py runs it",
    ".venv/bin/edge-pipeline run recipe.yaml --out bundle --set "
    "'targets=[x86-cpu-onnxruntime,jetson-orin-tensorrt]'":
        "a full run of the user's recipe: tests/backends/tensorrt builds the Jetson bundle, "
        "tests/cli/test_init.py runs a user's recipe",
    ".venv/bin/edge-pipeline benchmark --device jetson "
    "bundle/artifacts/*/jetson-orin-tensorrt/int8-jetson-bundle/jetson-bundle --batch-sizes 1,8 --out jetson.json":
        "needs a Jetson reachable over ssh: tests/remote/test_tensorrt_bundle.py runs a device bundle through "
        "benchmark --device against a real sshd on loopback, tests/remote/test_remote_benchmark.py ONNX files",
    ".venv/bin/edge-pipeline benchmark --device jetson --bundle bundle":
        "needs a Jetson reachable over ssh: tests/remote/test_bundle_rows.py attaches device rows to a bundle "
        "against a real sshd on loopback, tests/remote/test_tensorrt_bundle.py a device bundle's engine",
    ".venv/bin/edge-pipeline benchmark --compare jetson-baseline.json jetson.json":
        "compares two result files: tests/remote/test_remote_benchmark.py compares a device's file with another",
    "edge-pipeline benchmark model.int8.onnx --provider cuda,cpu --profile --out gpu.json":
        "needs a CUDA build of ONNX Runtime: tests/backends/onnxruntime/test_providers_and_profile.py runs "
        "--provider and --profile with the providers installed here",
}


def documented_commands() -> list[str]:
    """Every page's commands, README first; a command shown on two pages counts once."""
    return list(dict.fromkeys(c for page in PAGES for c in readme_commands(page.read_text())))


def readme_commands(text: str) -> list[str]:
    """One string per command: continuation lines joined, comments and console output dropped."""
    commands = []
    for language, body in SHELL_FENCE.findall(text):
        for line in body.replace("\\\n", " ").splitlines():
            if language == "console":
                if not line.startswith("$ "):
                    continue  # output shown after a command
                line = line[2:]
            line = re.sub(r"(^|\s)#.*$", "", line).strip()  # a comment, whole-line or trailing
            if line:
                commands.append(" ".join(line.split()))
    return commands


@dataclass
class Workspace:
    root: Path  # the fresh clone's root, as far as the commands can tell

    def run(self, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{self.root / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
               "EDGE_PIPELINE_PROGRESS": "off"}
        return subprocess.run(["bash", "-c", command], cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=timeout)

    def json(self, name: str) -> dict:
        return json.loads((self.root / name).read_text())


# --- the files the README's commands name as the user's --------------------------------------------------

def save_onnx(graph, path: Path, opset: int = 18) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 15 else 9
    onnx.save(model, str(path))
    return path


def digits_classifier(path: Path, batch: int | str = "N") -> Path:
    """Flatten + Gemm over the digits' (N, 1, 8, 8) inputs: what calibration_data/digits fits."""
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((64, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("Gemm", ["flat", "w", "b"], ["logits"])],
        "digits", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(10, np.float32), "b")],
    )
    return save_onnx(graph, path)


def ort_format(onnx_path: Path, ort_path: Path) -> Path:
    """An ORT-format model as the mobile targets write it (fixed batch 1)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(ort_path)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable, as shipped
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return ort_path


def quickstart_bundle(folder: Path) -> Path:
    """What the quickstart's run leaves in `bundle`, as far as compare and the device benchmark read it:
    a report over two targets (the stored baselines', joined) and android INT8 files, .onnx and .ort."""
    ort_run, ov_run = (json.loads((REPO / "baselines" / t / "report.json").read_text())
                       for t in ("x86-cpu-onnxruntime", "x86-cpu-openvino"))
    report = {**ort_run, "targets": [*ort_run["targets"], *ov_run["targets"]],
              "results": ort_run["results"] + ov_run["results"]}
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps(report))
    shutil.copy(REPO / "baselines" / "x86-cpu-onnxruntime" / "manifest.json", folder / "manifest.json")
    int8 = folder / "artifacts" / "teacher" / "android-arm64-onnxruntime" / "int8"
    int8.mkdir(parents=True)
    digits_classifier(int8 / "model.int8.onnx")
    ort_format(digits_classifier(folder / "fixed.onnx", batch=1), int8 / "model.int8.ort")
    (folder / "fixed.onnx").unlink()
    return folder


def export_recipe(root: Path) -> Path:
    recipe = {
        "metadata": {"name": "readme-export"},
        "model": {"onnx": str(root / "model.onnx")},
        "input": {"name": "input", "shape": [1, 1, 8, 8], "dynamic_batch": True},
        "data": {"calibration": {"path": str(DIGITS / "calibration.npz")},
                 "eval": {"path": str(DIGITS / "eval.npz")}},
        "stages": ["export"],
        "targets": ["x86-cpu-onnxruntime"],
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return root / "recipe.yaml"


@pytest.fixture
def clone(tmp_path) -> Workspace:
    root = tmp_path / "clone"
    root.mkdir()
    (root / ".venv").symlink_to(VENV)
    for shared in ("edge_pipeline", "baselines"):  # read, never written, by the commands (the package holds the data)
        (root / shared).symlink_to(REPO / shared)
    digits_classifier(root / "model.onnx")
    export_recipe(root)
    quickstart_bundle(root / "bundle")
    return Workspace(root)


# --- what each command that runs here must do -------------------------------------------------------------

def ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}"


def exported(ws: Workspace, proc) -> None:
    ok(proc)
    assert (ws.root / "exported" / "manifest.json").is_file()


def quantized(ws: Workspace, proc) -> None:
    ok(proc)
    assert (ws.root / "q" / "model.int8.onnx").is_file(), sorted(p.name for p in (ws.root / "q").iterdir())


def timed_every_config(ws: Workspace, proc) -> None:
    ok(proc)
    (result,) = ws.json("timings.json")["results"]
    assert [(c["batch_size"], c["threads"]) for c in result["configs"] if "latency_ms" in c] == [
        (1, 1), (8, 1), (1, 2), (8, 2)]
    assert (ws.root / "timings.csv").is_file()


def listed_targets(ws: Workspace, proc) -> None:
    ok(proc)
    assert "x86-cpu-onnxruntime" in proc.stdout and "android-arm64-onnxruntime" in proc.stdout


def recipe_shown(ws: Workspace, proc) -> None:
    ok(proc)
    assert "readme-export" in proc.stdout and "x86-cpu-onnxruntime" in proc.stdout


def device_benchmark_kept_what_it_timed(ws: Workspace, proc) -> None:
    ok(proc)  # batch 8 on the fixed-batch .ort is refused: skipped with its reason, the rest kept
    results = {Path(r["artifact"]).name: r for r in ws.json("device.json")["results"]}
    assert set(results) == {"model.int8.onnx", "model.int8.ort"}
    assert all("latency_ms" in c for c in results["model.int8.onnx"]["configs"])
    ort_configs = results["model.int8.ort"]["configs"]
    assert {c["batch_size"] for c in ort_configs if "latency_ms" in c} == {1}
    refused = [c for c in ort_configs if c["batch_size"] == 8]
    assert len(refused) == 3 and all("fixed at 1" in c["skipped"] for c in refused)
    assert all(len(r["sha256"]) == 64 for r in results.values())
    assert (ws.root / "device.csv").is_file()


def host_result_for_compare(ws: Workspace) -> None:
    """host.json: the same files timed on another machine, unpacked elsewhere and renamed."""
    host = ws.json("device.json")
    for result in host["results"]:
        result["artifact"] = f"/build-host/{Path(result['artifact']).stem}-renamed{Path(result['artifact']).suffix}"
    (ws.root / "host.json").write_text(json.dumps(host))


def compared_by_content(ws: Workspace, proc) -> None:
    ok(proc)
    assert "matched by content (sha256)" in proc.stdout
    assert "model.int8-renamed.ort = model.int8.ort" in proc.stdout  # A (host.json) = B (device.json)


def gates_passed(ws: Workspace, proc) -> None:
    ok(proc)
    assert "release gates PASSED" in proc.stdout
    assert "x86-cpu-openvino" in proc.stderr, "the target the baseline lacks is noted, not gated"
    assert (ws.root / "gates.xml").is_file() and (ws.root / "gates.md").is_file()


@dataclass(frozen=True)
class Step:
    check: Callable[[Workspace, subprocess.CompletedProcess], None]
    prepare: Callable[[Workspace], None] | None = None


RUN_HERE = {
    ".venv/bin/edge-pipeline export recipe.yaml --out exported": Step(exported),
    ".venv/bin/edge-pipeline quantize model.onnx --target x86-cpu-onnxruntime --calibration "
    "edge_pipeline/calibration_data/digits/calibration.npz --out q --set quantize.method=entropy": Step(quantized),
    ".venv/bin/edge-pipeline benchmark q/model.int8.onnx --batch-sizes 1,8 --threads 1,2 --out timings.json":
        Step(timed_every_config),
    ".venv/bin/edge-pipeline targets": Step(listed_targets),
    ".venv/bin/edge-pipeline config show recipe.yaml": Step(recipe_shown),
    "edge-pipeline benchmark bundle/artifacts/teacher/*/int8*/model.int8*.{onnx,ort} --batch-sizes 1,8 "
    "--threads 1,2,4 --warmup auto --out device.json": Step(device_benchmark_kept_what_it_timed),
    "edge-pipeline benchmark --compare host.json device.json": Step(compared_by_content, host_result_for_compare),
    ".venv/bin/edge-pipeline compare baselines/x86-cpu-onnxruntime bundle --only-baseline-targets "
    "--max-latency-regression 5% --max-accuracy-drop 0.5 --max-accuracy-drift 2 --max-size-growth 10% "
    "--junit gates.xml --markdown gates.md": Step(gates_passed),
}


# --- scripts/release, with the pipeline run replayed from the stored baselines ----------------------------

REPLAYING_CLI = """#!/usr/bin/env bash
# `edge-pipeline run --out DIR --set targets=[T]` copies T's stored baseline into DIR (the real run
# is tests/integration/test_default_run.py's); every other command is the real CLI.
if [ "$1" = run ]; then
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --out) out="$2"; shift 2 ;;
      --set) target="${2#targets=[}"; target="${target%]}"; shift 2 ;;
      *) shift ;;
    esac
  done
  mkdir -p "$out" && cp "$REPLAY/$target/report.json" "$REPLAY/$target/manifest.json" "$out/" && echo "$out"
  exit 0
fi
exec "$REAL_CLI" "$@"
"""


@pytest.fixture
def release_clone(tmp_path) -> Workspace:
    root = tmp_path / "release-clone"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "release", root / "scripts" / "release")
    shutil.copytree(REPO / "baselines", root / "baselines")  # --update-baseline writes here
    cli = root / ".venv" / "bin" / "edge-pipeline"
    cli.parent.mkdir(parents=True)
    cli.write_text(REPLAYING_CLI.replace("$REPLAY", str(REPO / "baselines"))
                   .replace("$REAL_CLI", str(VENV / "bin" / "edge-pipeline")))
    cli.chmod(0o755)
    return Workspace(root)


def released(targets: list[str]) -> Callable[[Workspace, subprocess.CompletedProcess], None]:
    def check(ws: Workspace, proc) -> None:
        ok(proc)
        summary = (ws.root / "bundles" / "gates" / "summary.md").read_text()
        for target in targets:
            assert f"## {target}" in summary and (ws.root / "bundles" / target / "report.json").is_file()
        assert "release gates PASSED" in summary and "FAIL" not in summary
    return check


def baselines_stored(ws: Workspace, proc) -> None:
    ok(proc)
    assert (ws.root / "bundles" / "gates" / "summary.md").read_text().count("Baseline updated") == 2


RELEASE_STEPS = {
    "scripts/release": Step(released(["x86-cpu-onnxruntime", "x86-cpu-openvino"])),
    "scripts/release --update-baseline": Step(baselines_stored),
    "scripts/release --targets x86-cpu-onnxruntime --fresh": Step(released(["x86-cpu-onnxruntime"])),
}


# --- the tests ---------------------------------------------------------------------------------------------

def test_every_documented_command_is_run_here_or_accounted_for():
    commands = documented_commands()
    known = {**RUN_HERE, **RELEASE_STEPS, **COVERED_ELSEWHERE}
    unaccounted = [c for c in commands if c not in known]
    assert not unaccounted, ("README/docs commands neither run by tests/test_readme_commands.py nor listed in its "
                             f"COVERED_ELSEWHERE: {unaccounted}")
    stale = sorted(set(known) - set(commands))
    assert not stale, f"listed in tests/test_readme_commands.py but in neither the README nor docs/: {stale}"


def test_docs_pages_are_read():
    assert any(page.parent.name == "docs" for page in PAGES), "no docs/*.md found"


def test_commands_are_read_from_every_shell_block():
    text = "```bash\na \\\n  --b  # why\n# note\n```\n```yaml\nc: 1\n```\n```console\n$ d e\noutput\n```\n"
    assert readme_commands(text) == ["a --b", "d e"]


def run_in_readme_order(ws: Workspace, steps: dict[str, Step]) -> None:
    """The steps in the order they are listed (each step's inputs come from the ones before it), each
    as a page shows it; the first test makes sure every one is still shown somewhere."""
    shown = set(documented_commands())
    for command in [c for c in steps if c in shown]:
        step = steps[command]
        if step.prepare is not None:
            step.prepare(ws)
        step.check(ws, ws.run(command))


@pytest.mark.slow
def test_readme_commands_run_as_written(clone):
    # Two independent chains side by side (each in README order): the quantize step alone takes most of
    # the time (a torch import and entropy calibration), the rest does not wait for it.
    quantize_chain = {c: step for c, step in RUN_HERE.items() if c.split()[1] == "quantize" or " q/" in c}
    rest = {c: step for c, step in RUN_HERE.items() if c not in quantize_chain}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for chain in [pool.submit(run_in_readme_order, clone, steps) for steps in (quantize_chain, rest)]:
            chain.result()  # re-raises a failed check


def test_release_commands_run_as_written(release_clone):
    run_in_readme_order(release_clone, RELEASE_STEPS)
