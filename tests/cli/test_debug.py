"""Errors stay one line; --debug and EDGE_PIPELINE_DEBUG=1 show the traceback with its causes."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_pipeline", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_error_is_one_line_and_debug_shows_the_cause(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("metadata: [unclosed\n")
    plain = _run("run", str(bad), "--out", str(tmp_path / "b"))
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1
    debug = _run("--debug", "run", str(bad), "--out", str(tmp_path / "b"))
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "yaml" in debug.stderr.lower()
    assert "direct cause" in debug.stderr
    by_env = _run("run", str(bad), "--out", str(tmp_path / "b"), env={"EDGE_PIPELINE_DEBUG": "1"})
    assert "Traceback" in by_env.stderr
