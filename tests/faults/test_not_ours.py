"""Never touch what is not ours, and never pull an entry from under a live run: `benchmark --out DIR`
keeps the user's own DIR/benchmark.json; `cache clean` acts only on a folder with the cache's marker
and keeps the entries a running process holds (a second process here holds one, as a run does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_pipeline.artifacts.cache import StageCache, StageKey
from edge_pipeline.errors import OutputError
from tests.conftest import REPO
from tests.faults.harness import assert_one_line_error, run_cli, snapshot


def relu_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


@pytest.mark.parametrize("name", ["benchmark.json", "benchmark.csv"])
def test_benchmark_out_folder_keeps_the_users_own_result_file(tmp_path, capsys, name):
    model = relu_onnx(tmp_path / "m.onnx")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / name).write_text("my own notes\n")
    before = snapshot(folder)
    code, _, err = run_cli(capsys, "benchmark", model, "--iterations", "2", "--warmup", "1", "--out", folder)
    assert_one_line_error(code, err, OutputError.exit_code, str(folder / name),
                          "is not a benchmark result edge-pipeline wrote", "left alone",
                          f"name a new file, e.g. --out {folder / 'new-benchmark.json'}")
    assert snapshot(folder) == before


def test_benchmark_out_folder_replaces_its_own_result(tmp_path, capsys):
    model = relu_onnx(tmp_path / "m.onnx")
    folder = tmp_path / "results"
    folder.mkdir()
    for _ in range(2):  # the second run replaces what the first wrote
        code, out, err = run_cli(capsys, "benchmark", model, "--iterations", "2", "--warmup", "1", "--out", folder)
        assert code == 0, err
    assert json.loads((folder / "benchmark.json").read_text())["kind"] == "edge_pipeline.benchmark"
    assert sorted(p.name for p in folder.iterdir()) == ["benchmark.csv", "benchmark.json"]


def test_cache_clean_refuses_hash_named_folders_without_the_marker(tmp_path, capsys):
    """The legacy heuristic once took names that look like an entry's for the cache's own."""
    folder = tmp_path / "mine"
    entry = folder / "stages" / "export" / ("ab" * 16)
    entry.mkdir(parents=True)
    (entry / "thesis.tex").write_text("keep me")
    (folder / "stages" / "export" / f"{'cd' * 16}.lock").write_text("")
    before = snapshot(folder)
    code, _, err = run_cli(capsys, "cache", "clean", "--cache-dir", folder)
    assert_one_line_error(code, err, OutputError.exit_code, "--cache-dir", "does not look like an edge_pipeline cache",
                          "nothing was removed")
    assert snapshot(folder) == before


# A process that uses an entry as a run does (a verified hit it then reads), until its stdin closes.
READER = """
import sys
from edge_pipeline.artifacts.cache import StageCache, StageKey
cache = StageCache(sys.argv[1])
entry, problem = cache.inspect(StageKey("export", {"model": "abc"}))
assert entry is not None and problem is None, problem
print("holding", flush=True)
sys.stdin.read()
print((entry.directory / "model.onnx").read_text(), flush=True)
"""


def test_cache_clean_keeps_an_entry_a_live_run_reads(tmp_path, capsys):
    root = tmp_path / "cache"
    cache = StageCache(root / "stages")
    key = StageKey("export", {"model": "abc"})
    cache.obtain(key, lambda d: (d / "model.onnx").write_text("weights") and {})
    cache.close()
    reader = subprocess.Popen([sys.executable, "-c", READER, str(root / "stages")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert reader.stdout.readline().strip() == "holding"
        code, out, err = run_cli(capsys, "cache", "clean", "--cache-dir", root)
        assert code == 0, err
        assert "removed 0 entries" in out and "kept export/" in out and "a run is using it" in out
        remaining, _ = reader.communicate("", timeout=30)
    finally:
        reader.kill()
    assert reader.returncode == 0 and remaining.strip() == "weights"
    # Once the run is done the entry is the cache's to remove.
    code, out, err = run_cli(capsys, "cache", "clean", "--cache-dir", root)
    assert code == 0 and "removed 1 entries" in out, out
    assert not (root / "stages" / "export").exists()


def test_a_vanished_entry_is_named_as_the_caches(tmp_path, tiny_data, capsys, monkeypatch):
    """A file deleted from under the run by hand (not through `cache clean`, which waits): the run
    names the cache and says the model is fine, instead of the loader's "File doesn't exist"."""
    import shutil

    from edge_pipeline.engine.run import Engine
    from tests.conftest import tiny_recipe_dict, write_recipe

    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, stages=["export", "quantize"]))
    cache = tmp_path / "cache"
    original = Engine._run_stage

    def delete_before_quantize(self, stage, out):
        if stage.name == "quantize":  # another process deletes the files between two stages
            shutil.rmtree(cache / "stages" / "export")
        return original(self, stage, out)

    monkeypatch.setattr(Engine, "_run_stage", delete_before_quantize)
    code, _, err = run_cli(capsys, "run", recipe, "--out", tmp_path / "out", "--cache-dir", cache)
    assert_one_line_error(code, err, 1, "vanished from the stage cache", str(cache), "entry export/",
                          "before quantize", "the model is fine", "run again")
    assert not (tmp_path / "out").exists()
