"""`run` ends with a compact results table on stderr; stdout stays the bundle path alone."""

import json

from edge_pipeline.cli.main import main
from tests.conftest import tiny_recipe_dict, write_recipe


def test_run_prints_one_table_line_per_artifact_and_only_the_path_on_stdout(tmp_path, tiny_data, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data))
    assert main(["run", str(recipe), "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str((tmp_path / "b").resolve())
    lines = captured.err.splitlines()
    # Each target's decision comes first: what to ship, its speedup over FP32 and its worst cosine.
    decided = lines[next(i for i, line in enumerate(lines) if line.startswith("target  ") and "recommended" in line):]
    assert decided[0].split()[:6] == ["target", "recommended", "runtime", "vs", "FP32", "worst"]
    choice = decided[1].split()
    assert choice[0] == "x86-cpu-onnxruntime" and choice[1] in {"fp32", "int8"} and choice[3].endswith("x")
    assert float(choice[4]) >= 0.99 and " ".join(choice[5:]).startswith(("FP32", "INT8", "mixed INT8"))
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    shipped = manifest["recommended"]["x86-cpu-onnxruntime"]
    assert shipped["status"] == "recommended" and shipped["artifact_id"].endswith("/" + choice[1])
    # The table of rows starts at its header line (progress lines before it may say "target" too).
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("target ") and " model " in line):]
    assert table[0].split()[:4] == ["target", "model", "artifact", "runtime"]
    body = [line.split() for line in table[1:] if line.startswith("x86-cpu-onnxruntime")]
    assert [cells[2] for cells in body] == ["fp32", "int8"]
    assert body[0][5] == "1.00x" and body[1][9] == "here"

    assert main(["-q", "run", str(recipe), "--out", str(tmp_path / "b")]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out.strip() == str((tmp_path / "b").resolve())

    assert main(["-v", "run", str(recipe), "--out", str(tmp_path / "b")]) == 0
    verbose = capsys.readouterr().err
    assert ": unchanged, re-using cached result" in verbose  # a line per step
    assert "steps unchanged, re-using cached results" in verbose  # the per-stage line stays
