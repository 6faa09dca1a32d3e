"""Out-of-range counts, batches that cannot fit in memory, and models that do not load: each is one
line naming the key or file and the fix, with the right exit code, before any training or timing
(an unbounded ``benchmark.iterations`` once ran until interrupted). The CLI runs in this process;
the user's files stay as they were (a snapshot before and after) and no output folder is made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot

Build = Callable[[Path, dict], list]  # (the user's folder, tiny_data paths) -> CLI arguments


@dataclass(frozen=True)
class Case:
    build: Build
    exit_code: int
    fragments: tuple[str, ...]
    usage: bool = False  # an argparse usage error (a bad flag value) instead of an 'error:' line


# --- builders -------------------------------------------------------------------------------------

def run_with(*overrides: str, **changes) -> Build:
    def build(folder, tiny_data):
        recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data, **changes))
        sets = [arg for item in overrides for arg in ("--set", item)]
        return ["run", recipe, "--out", folder.parent / "out", "--cache-dir", folder.parent / "cache", *sets]

    return build


def with_checkpoint(damage: Callable[[bytes], bytes]) -> Build:
    def build(folder, tiny_data):
        from safetensors.torch import save_file

        from edge_pipeline.testing.tiny import tiny_residual_net

        checkpoint = folder / "weights.safetensors"
        save_file(tiny_residual_net().state_dict(), str(checkpoint))
        checkpoint.write_bytes(damage(checkpoint.read_bytes()))
        model = {"factory": "edge_pipeline.testing.tiny:tiny_residual_net", "checkpoint": str(checkpoint)}
        return run_with(model=model)(folder, tiny_data)

    return build


def with_factory(module: str, source: str) -> Build:
    """A factory module beside the recipe (found there without PYTHONPATH); one name per case, since
    an imported module stays in sys.modules."""
    def build(folder, tiny_data):
        (folder / f"{module}.py").write_text(source)
        return run_with(model={"factory": f"{module}:net"})(folder, tiny_data)

    return build


def conv_onnx(path: Path, external: bool = False, op: tuple[str, str] | None = None) -> Path:
    """A one-Conv model taking 'input' [N, 3, 8, 8]; ``external`` keeps its weights in a .data file;
    ``op`` (domain, name) appends a node of that op."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).random((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["conv" if op else "output"], pads=[1, 1, 1, 1], name="conv")]
    opsets = [helper.make_opsetid("", 18)]
    if op is not None:
        nodes.append(helper.make_node(op[1], ["conv"], ["output"], domain=op[0], name="custom"))
        opsets.append(helper.make_opsetid(op[0], 1))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 8, 8])], [weight])
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.save(model, str(path), save_as_external_data=external, location=f"{path.name}.data", size_threshold=0)
    return path


def onnx_without_its_data(folder, tiny_data):
    model = conv_onnx(folder / "elsewhere.onnx", external=True)
    Path(f"{model}.data").unlink()
    return run_with(model={"onnx": str(model)})(folder, tiny_data)


def benchmark_with_wrong_data(folder, tiny_data):
    model = conv_onnx(folder / "m.onnx")
    np.savez(folder / "wrong.npz", x=np.zeros((4, 3, 9, 9), np.float32))
    return ["benchmark", model, "--data", folder / "wrong.npz", "--warmup", "1", "--iterations", "5"]


def quantize_custom_op(folder, tiny_data):
    model = conv_onnx(folder / "custom.onnx", op=("com.acme", "MyOp"))
    return ["quantize", model, "--calibration", tiny_data["calibration"], "--out", folder.parent / "out"]


def benchmark_flag(*flags: str) -> Build:
    def build(folder, tiny_data):
        return ["benchmark", folder / "m.onnx", *flags]

    return build


# --- the table ------------------------------------------------------------------------------------

RANGE = "is out of range; allowed"
CASES = {
    # Recipe bounds: named by key, with the allowed range.
    "iterations-1e26": Case(run_with("benchmark.iterations=100000000000000000000000000"), 2,
                            ("benchmark.iterations", RANGE, "1 to 1000000")),
    "iterations-float-1e26": Case(run_with("benchmark.iterations=1.0e+26"), 2, ("benchmark.iterations",)),
    "warmup-negative": Case(run_with("benchmark.warmup=-1"), 2, ("benchmark.warmup", "allowed 0 to 100000")),
    "batch-size-zero": Case(run_with("benchmark.batch_sizes=[1,0]"), 2, ("benchmark.batch_sizes", "0 " + RANGE)),
    "threads-huge": Case(run_with("benchmark.threads=[100000]"), 2, ("benchmark.threads", "allowed 1 to 1024")),
    "rounds-huge": Case(run_with("benchmark.rounds=1000"), 2, ("benchmark.rounds", "allowed 1 to 100")),
    "time-budget-a-year": Case(run_with("benchmark.time_budget_s=31536000"), 2, ("benchmark.time_budget_s", RANGE)),
    "time-budget-nan": Case(run_with("benchmark.time_budget_s=.nan"), 2, ("benchmark.time_budget_s", "nan " + RANGE)),
    "eval-batch-huge": Case(run_with("benchmark.eval_batch_size=100000000"), 2, ("benchmark.eval_batch_size", RANGE)),
    "samples-zero": Case(run_with("quantize.samples=0"), 2, ("quantize.samples", RANGE)),
    "epochs-huge": Case(run_with("distill.train.epochs=100000000"), 2, ("distill.train.epochs", "0 to 10000")),
    "train-batch-zero": Case(run_with("prune.recovery.train.batch_size=0"), 2, ("prune.recovery.train.batch_size",)),
    "shape-dim-huge": Case(run_with("input.shape=[1,3,8,100000000000]"), 2, ("input.shape", "2147483647")),
    # A batch whose inputs alone exceed the memory: refused from the shape, before any stage.
    "batch-beyond-memory": Case(run_with("input.shape=[1,3,1024,1024]", "benchmark.batch_sizes=[1,65536]",
                                         "benchmark.eval_batch_size=1"), 2,
                                ("benchmark.batch_sizes", "batch size 65536 needs", "GiB", "available",
                                 "use a smaller batch_sizes")),
    "input-beyond-memory": Case(run_with("input.shape=[1,3,400000,400000]"), 2,
                                ("input.shape", "batch size 1 needs", "use a smaller input")),
    # Benchmark flags: argparse refuses them (exit 2) naming the flag and the range.
    "flag-iterations-zero": Case(benchmark_flag("--iterations", "0"), 2, ("--iterations", "0 " + RANGE), usage=True),
    "flag-warmup-huge": Case(benchmark_flag("--warmup", "1000000"), 2, ("--warmup", RANGE), usage=True),
    "flag-rounds-zero": Case(benchmark_flag("--rounds", "0"), 2, ("--rounds", RANGE), usage=True),
    "flag-batch-sizes": Case(benchmark_flag("--batch-sizes", "1,100000"), 2, ("--batch-sizes", RANGE), usage=True),
    "flag-threads": Case(benchmark_flag("--threads", "5000"), 2, ("--threads", RANGE), usage=True),
    "flag-time-budget-nan": Case(benchmark_flag("--time-budget", "nan"), 2, ("--time-budget", RANGE), usage=True),
    # Models that do not load: ModelLoadError naming the file or factory and the fix.
    "safetensors-truncated": Case(with_checkpoint(lambda data: data[: len(data) // 2]), 2,
                                  ("weights.safetensors", "not a readable .safetensors file", "truncated")),
    "safetensors-random": Case(with_checkpoint(lambda data: np.random.default_rng(1).bytes(len(data))), 2,
                               ("weights.safetensors", "not a readable .safetensors file")),
    "factory-exits-3": Case(with_factory("exits_three", "import sys\n\ndef net():\n    sys.exit(3)\n"), 2,
                            ("factory 'exits_three:net'", "sys.exit(3)", "return an nn.Module")),
    "factory-exits-on-import": Case(with_factory("exits_on_import", "import sys\nsys.exit('no GPU')\n"), 2,
                                    ("factory 'exits_on_import:net'", "sys.exit('no GPU')")),
    "onnx-data-missing": Case(onnx_without_its_data, 2,
                              ("elsewhere.onnx", "elsewhere.onnx.data", "missing", "copy it beside")),
    # Data of the wrong shape for `benchmark --data`: both shapes named, not the runtime's text.
    "benchmark-data-shape": Case(benchmark_with_wrong_data, 2, ("[3, 9, 9]", "['N', 3, 8, 8]", "m.onnx")),
    # An op ONNX Runtime cannot run, named before calibration.
    "quantize-custom-op": Case(quantize_custom_op, 4, ("custom.onnx", "com.acme:MyOp", "cannot run")),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_refused_with_one_line(case: Case, tmp_path, tiny_data, capsys):
    user = tmp_path / "user"  # outputs and the cache go beside it, in tmp_path
    user.mkdir()
    argv = case.build(user, tiny_data)
    before = user_files(user, tiny_data)
    if case.usage:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(capsys, *argv)
        err = capsys.readouterr().err
        line = err.strip().splitlines()[-1]
        assert exit_info.value.code == case.exit_code, err
        assert line.startswith("edge-pipeline benchmark: error: argument"), err
        for fragment in case.fragments:
            assert fragment in line, (fragment, line)
    else:
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, case.exit_code, *case.fragments)
    assert user_files(user, tiny_data) == before
    assert not (tmp_path / "out").exists()


def user_files(user: Path, tiny_data: dict) -> dict[str, str]:
    """The user's folder and tiny_data's files (the cache beside them is the tool's)."""
    files = snapshot(user)
    for role, path in tiny_data.items():
        files[role] = snapshot(path.parent).get(path.name, "missing")
    return files


def test_benchmark_job_from_the_api_is_bounded(tmp_path):
    """An API caller skips the recipe and the CLI: the worker's parent checks the job itself."""
    from edge_pipeline.benchmarking.harness import check_job
    from edge_pipeline.errors import ConfigError

    job = {"artifact": "m.onnx", "iterations": 0, "warmup": 2, "batch_sizes": [1], "threads": [1]}
    with pytest.raises(ConfigError, match=r"m.onnx: iterations 0 is out of range; allowed 1 to 1000000"):
        check_job(job)
    with pytest.raises(ConfigError, match="warmup"):
        check_job({**job, "iterations": 10, "warmup": 10**9})
    check_job({**job, "iterations": 10, "warmup": "auto"})


def test_dead_runs_temp_folders_are_swept(tmp_path):
    """A folder named for a pid that no longer runs goes; a live process's stays."""
    import os
    import subprocess
    import sys

    from edge_pipeline.benchmarking.scratch import TEMP_PREFIX, sweep_dead_temp

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = tmp_path / f"{TEMP_PREFIX}{ended.stdout.strip()}-x", tmp_path / f"{TEMP_PREFIX}{os.getpid()}-y"
    for folder in (dead, alive):
        (folder / "inner").mkdir(parents=True)
    assert sweep_dead_temp(tmp_path) == [dead]
    assert alive.is_dir() and not dead.exists()
