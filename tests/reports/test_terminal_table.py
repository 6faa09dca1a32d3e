"""`run` ends with a compact results table on stderr; stdout stays the bundle path alone."""

from edge_pipeline.cli.main import main
from tests.conftest import tiny_recipe_dict, write_recipe


def test_run_prints_one_table_line_per_artifact_and_only_the_path_on_stdout(tmp_path, tiny_data, capsys):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe_dict(tiny_data))
    assert main(["run", str(recipe), "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str((tmp_path / "b").resolve())
    lines = captured.err.splitlines()
    # The table starts at its header line (progress lines and warnings before it may say "target" too).
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("target ")):]
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
