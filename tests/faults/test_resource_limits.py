"""Resource limits are errors, not hangs or tracebacks: a YAML alias bomb or nesting bomb in any
recipe, target profile or devices.yaml, a disk that fills while the cache is written, an ONNX whose
inputs cannot fit in memory, and `init` leaving no stub behind when it fails. Each is one line with
the exit code, and the user's files stay as they were."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edge_pipeline.errors import ConfigError, DataError, OutputError
from tests.conftest import REPO, tiny_recipe_dict, write_recipe
from tests.faults.harness import assert_one_line_error, run_cli, snapshot

# Ten anchors of ten aliases each: 10**9 values once written out, a few hundred bytes as text.
ALIAS_BOMB = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                       + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)])


def _indented(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def recipe_with_bomb(folder: Path, tiny_data: dict) -> list:
    """The bomb inside a free-form mapping (model.kwargs), where no schema stops it."""
    recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data))
    text = recipe.read_text().replace("model:\n", "model:\n  kwargs:\n" + _indented(ALIAS_BOMB, "    ") + "\n", 1)
    recipe.write_text(text)
    return ["run", recipe, "--out", folder.parent / "out", "--cache-dir", folder.parent / "cache"]


def recipe_nested(folder: Path, tiny_data: dict) -> list:
    recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data))
    recipe.write_text(recipe.read_text() + "target_options: " + "[" * 5000 + "]" * 5000 + "\n")
    return ["run", recipe, "--out", folder.parent / "out", "--cache-dir", folder.parent / "cache"]


def target_with_bomb(folder: Path, tiny_data: dict) -> list:
    target = folder / "bomb-target.yaml"
    target.write_text(ALIAS_BOMB + "\n")
    recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data, targets=[str(target)]))
    return ["run", recipe, "--out", folder.parent / "out", "--cache-dir", folder.parent / "cache"]


def devices_with_bomb(folder: Path, tiny_data: dict) -> list:
    devices = folder / "devices.yaml"
    devices.write_text("devices:\n  board:\n" + _indented(ALIAS_BOMB, "    ") + "\n")
    model = folder / "m.onnx"
    model.write_bytes(b"not read: devices.yaml fails first")
    return ["benchmark", "--device", "board", "--devices", devices, model]


def set_with_bomb(folder: Path, tiny_data: dict) -> list:
    recipe = write_recipe(folder / "r.yaml", tiny_recipe_dict(tiny_data))
    flow = "{" + ", ".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                           + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]) + "}"
    return ["run", recipe, "--out", folder.parent / "out", "--set", f"model.kwargs={flow}"]


YAML_CASES = {
    "alias-bomb-in-model-kwargs": (recipe_with_bomb, ("r.yaml", "aliases expand to more than 100000 values")),
    "nested-lists": (recipe_nested, ("r.yaml", "line", "nesting deeper than 64 levels")),
    "alias-bomb-in-target-profile": (target_with_bomb, ("bomb-target.yaml", "aliases expand to more than")),
    "alias-bomb-in-devices-yaml": (devices_with_bomb, ("devices.yaml", "aliases expand to more than")),
    "alias-bomb-in-set": (set_with_bomb, ("--set", "aliases expand to more than")),
}


@pytest.mark.parametrize("case", YAML_CASES, ids=YAML_CASES)
def test_yaml_bombs_are_one_line_config_errors(case, tmp_path, tiny_data, capsys):
    build, fragments = YAML_CASES[case]
    user = tmp_path / "user"
    user.mkdir()
    argv = build(user, tiny_data)
    before = snapshot(user)
    started = time.perf_counter()
    code, _, err = run_cli(capsys, *argv)
    assert time.perf_counter() - started < 10  # refused while parsing, not after expanding
    assert_one_line_error(code, err, ConfigError.exit_code, *fragments)
    assert snapshot(user) == before and not (tmp_path / "out").exists()


def test_shared_settings_through_aliases_still_load(tmp_path):
    """Anchors and merge keys are legal YAML for shared settings; only their expansion is bounded."""
    from edge_pipeline.config.loader import read_yaml_mapping

    path = tmp_path / "r.yaml"
    path.write_text("base: &base {warmup: 2, iterations: 10}\nbenchmark:\n  <<: *base\n  iterations: 20\n")
    assert read_yaml_mapping(path)["benchmark"] == {"warmup": 2, "iterations": 20}


# --- a full disk ------------------------------------------------------------------------------------

@contextlib.contextmanager
def tiny_disk(folder: Path):
    """A 1 MiB tmpfs at ``folder`` (root only); None where it cannot be mounted."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        yield None
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> None:
    """Write until the disk refuses (the last buffered bytes fail on close, also refused)."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)


def _limit_file_size():
    # Writes past 2 KiB (the tiny model's ONNX is about 5 KiB) fail with EFBIG, not SIGXFSZ's kill.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def test_a_full_cache_disk_is_one_line_naming_the_cache(tmp_path, tiny_data, capsys):
    """The cache's folder exists (marker written), then its disk fills: the first step's entry
    cannot be written. Where no tmpfs can be mounted, a file-size limit in a subprocess refuses the
    same write (EFBIG instead of ENOSPC)."""
    from edge_pipeline.artifacts.cache import StageCache

    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, stages=["export"]))
    with tiny_disk(tmp_path / "disk") as disk:
        cache = (disk or tmp_path / "disk") / "cache"
        StageCache(cache / "stages")
        argv = ["run", recipe, "--out", tmp_path / "out", "--cache-dir", cache]
        if disk is not None:
            fill(disk)
            code, _, err = run_cli(capsys, *argv)
        else:
            proc = subprocess.run([sys.executable, "-m", "edge_pipeline", *map(str, argv)], capture_output=True,
                                  text=True, preexec_fn=_limit_file_size, env={**os.environ, "PYTHONPATH": str(REPO)},
                                  timeout=300)
            code, err = proc.returncode, proc.stderr
        assert_one_line_error(code, err, OutputError.exit_code, "the stage cache", str(cache), "--cache-dir")
        leftovers = [p.name for p in (cache / "stages").rglob("*") if p.name.endswith((".partial", ".trash"))]
        assert leftovers == [] and not (tmp_path / "out").exists()


def test_a_full_disk_under_an_atomic_write_is_an_output_error(tmp_path):
    """Any file written through artifacts/atomic.py (reports, result files, checkpoints)."""
    from edge_pipeline.artifacts.atomic import write_text

    with tiny_disk(tmp_path / "disk") as disk:
        if disk is None:
            pytest.skip("needs root to mount a tmpfs")
        fill(disk)
        with pytest.raises(OutputError, match=r"cannot write .*report.md: No space left on device; nothing was kept"):
            write_text(disk / "report.md", "x" * 100_000)
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


# --- shapes too large, and init's stub ----------------------------------------------------------------

def huge_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 100000, 100000])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 100000, 100000])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_init_with_huge_dims_is_refused_naming_the_estimate_and_leaves_nothing(tmp_path, capsys):
    model = huge_onnx(tmp_path / "huge.onnx")
    out = tmp_path / "new" / "recipe.yaml"
    code, _, err = run_cli(capsys, "init", "--onnx", model, "--out", out)
    assert_one_line_error(code, err, DataError.exit_code, "recipe.calibration.npz", "GiB for its inputs alone",
                          "'input' [32, 3, 100000, 100000] float32", "available", "nothing was written")
    assert not (tmp_path / "new").exists()
    # The corrected re-run is not blocked by a stub.
    code, _, err = run_cli(capsys, "init", "--onnx", model, "--out", out)
    assert "already exist" not in err


def test_benchmark_with_huge_dims_is_refused_before_timing(tmp_path, capsys):
    model = huge_onnx(tmp_path / "huge.onnx")
    code, _, err = run_cli(capsys, "benchmark", model, "--iterations", "2", "--warmup", "1")
    assert_one_line_error(code, err, 2, "huge.onnx", "batch size 1 needs", "GiB", "available")


def test_init_failing_while_writing_leaves_no_stub(tmp_path, capsys):
    """A write that fails after the stub's bytes exist (here the recipe's folder refuses files)
    leaves neither file: the stub is written to a temp sibling and linked into place whole."""
    from edge_pipeline.scaffold.starter import _write_new

    target = tmp_path / "r.calibration.npz"
    with tiny_disk(tmp_path / "disk") as disk:
        if disk is None:
            pytest.skip("needs root to mount a tmpfs")
        fill(disk)
        target = disk / "r.calibration.npz"
        with pytest.raises(OutputError, match="No space left on device"):
            _write_new(target, np.zeros(100_000).tobytes())
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
