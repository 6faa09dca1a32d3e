"""`bundle=$(edge-pipeline run)` captures exactly the path: while a command runs, anything else
written to stdout (a library's print, C-level output, a worker process) goes to stderr."""

import subprocess
import sys

SCRIPT = """
import os, subprocess, sys
from edge_pipeline.cli.output import print_result, results_only_on_stdout
with results_only_on_stdout():
    print("a library's progress bar")
    os.write(1, b"a runtime's C-level print\\n")
    subprocess.run([sys.executable, "-c", "print('a worker process')"], check=True)
    print_result("/the/bundle")
print("after the command")
"""


def test_only_the_result_reaches_stdout():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert proc.stdout == "/the/bundle\nafter the command\n"
    for noise in ("a library's progress bar", "a runtime's C-level print", "a worker process"):
        assert noise in proc.stderr
