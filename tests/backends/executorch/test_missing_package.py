"""Without executorch installed the backend says which extra to install, in one line."""

from __future__ import annotations

from tests.test_lean_import import BLOCKER

CODE = BLOCKER.replace('"onnx"}', '"onnx", "executorch", "torchao"}') + """
from edge_pipeline.backends.registry import get_backend, load_runtime_backend
from edge_pipeline.errors import BackendUnavailableError
for load in (lambda: get_backend('executorch'), lambda: load_runtime_backend('executorch', 'model.pte')):
    try:
        load()
    except BackendUnavailableError as exc:
        print(str(exc))
"""


def test_missing_executorch_names_the_extra():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout + proc.stderr
    assert "pip install 'edge-pipeline[executorch]'" in lines[0]
    assert "pip install 'edge-pipeline[device-executorch]'" in lines[1]
