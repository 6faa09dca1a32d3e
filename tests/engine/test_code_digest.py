"""Cache keys hash the code a stage runs: editing a module in its import closure re-runs the stage,
editing an unrelated one does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edge_pipeline import api
from edge_pipeline.engine import code
from edge_pipeline.engine.code import PACKAGE_ROOT, closure, code_digest
from tests.conftest import tiny_recipe_dict, write_recipe


def test_closure_follows_imports_inside_functions():
    modules = closure(["edge_pipeline.stages.export"])
    assert "edge_pipeline.modeling.onnx_export" in modules  # imported inside produce()
    assert "edge_pipeline.reports.html.render" not in modules


def test_digest_changes_with_a_module_in_the_closure_only(tmp_path):
    copy = tmp_path / "edge_pipeline"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    roots = frozenset({"edge_pipeline.stages.export"})
    before = code_digest(roots, copy)
    with open(copy / "reports" / "markdown.py", "a") as fh:
        fh.write("\n# unrelated edit\n")
    code_digest.cache_clear()  # memoized per process: code does not change under a running pipeline
    assert code_digest(roots, copy) == before
    with open(copy / "modeling" / "onnx_export.py", "a") as fh:
        fh.write("\n# an edit to code the export stage runs\n")
    code_digest.cache_clear()
    assert code_digest(roots, copy) != before


def test_editing_stage_code_invalidates_its_cache_entry(tmp_path, tiny_data, monkeypatch):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data, stages=["export"]))
    cache = tmp_path / "cache"
    api.run(recipe, tmp_path / "a", cache_dir=cache)
    warm = api.run(recipe, tmp_path / "b", cache_dir=cache)
    assert all(step["cached"] for step in _steps(warm))

    real_read = code.read_source
    edited = Path(code.module_file("edge_pipeline.modeling.onnx_export"))
    monkeypatch.setattr(code, "read_source", lambda p: real_read(p) + ("\n# edited\n" if Path(p) == edited else ""))
    code.code_digest.cache_clear()
    try:
        after = api.run(recipe, tmp_path / "c", cache_dir=cache)
    finally:
        code.code_digest.cache_clear()
    assert not any(step["cached"] for step in _steps(after))


def _steps(bundle: Path) -> list[dict]:
    return json.loads((bundle / "manifest.json").read_text())["steps"]
