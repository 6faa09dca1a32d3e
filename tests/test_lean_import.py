"""The package and its CLI help load with no runtime (and no torch) installed."""

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = {"onnxruntime", "openvino", "nncf", "tensorrt", "torch", "onnx"}
    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
    sys.meta_path.insert(0, Blocker())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + code], capture_output=True, text=True)


def test_import_without_backends_or_torch():
    proc = run_blocked("import edge_pipeline, edge_pipeline.api, edge_pipeline.backends.registry; print('ok')")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_cli_help_without_backends_or_torch():
    proc = run_blocked("from edge_pipeline.cli.main import main; main(['--help'])")
    assert proc.returncode == 0, proc.stderr
    assert "run" in proc.stdout and "doctor" in proc.stdout


def test_doctor_names_the_extra_for_a_missing_backend():
    proc = run_blocked("from edge_pipeline.cli.main import main; raise SystemExit(main(['doctor']))")
    assert proc.returncode == 0, proc.stderr
    assert "onnxruntime  missing" in proc.stdout and "edge-pipeline[onnxruntime]" in proc.stdout


def test_missing_backend_is_a_clear_error():
    code = (
        "from edge_pipeline.backends.registry import get_backend\n"
        "from edge_pipeline.errors import BackendUnavailableError\n"
        "try:\n    get_backend('onnxruntime')\n"
        "except BackendUnavailableError as exc:\n    print(exc)\n"
    )
    proc = run_blocked(code)
    assert "pip install 'edge-pipeline[onnxruntime]'" in proc.stdout, proc.stderr
