"""The runtimes' usage telemetry stays off: quantizing for OpenVINO (convert_model, NNCF, ONNX Runtime
checks) and benchmarking in worker processes send nothing and write nothing to the user's home.

Each case runs the CLI in a fresh process with HOME in tmp_path and no CI variables (both runtimes
keep quiet in CI on their own, which would hide a regression)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edge_pipeline.backends.registry import probe
from tests.backends.onnxruntime.test_providers_and_profile import QUICK, tiny_model

pytestmark = pytest.mark.skipif(not probe("openvino")[0], reason="openvino/nncf not installed")

# What the runtimes read to tell CI apart (ONNX Runtime: GITHUB_ACTIONS, TF_BUILD; OpenVINO: CI,
# TF_BUILD, JENKINS_URL), and what would move the cache or the home folder.
_CLEARED = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "JENKINS_URL", "XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY",
            "EDGE_PIPELINE_OPENVINO_TELEMETRY", "NNCF_CI", "NNCF_DEV")


def user_env(home, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _CLEARED}
    return {**env, "HOME": str(home), "EDGE_PIPELINE_CACHE": str(home.parent / "cache"), **extra}


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_pipeline", *args], env=env, capture_output=True, text=True)


def test_quantizing_and_benchmarking_write_nothing_to_the_users_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    model = tiny_model(tmp_path / "tiny.onnx")
    np.savez(tmp_path / "calibration.npz", x=np.random.default_rng(0).standard_normal((16, 3, 8, 8)).astype(np.float32))
    env = user_env(home)

    quantized = cli(["quantize", str(model), "--target", "x86-cpu-openvino", "--calibration",
                     str(tmp_path / "calibration.npz"), "--out", str(tmp_path / "ir")], env)
    assert quantized.returncode == 0, quantized.stderr
    timed = cli(["benchmark", str(model), str(tmp_path / "ir" / "model.xml"), *QUICK,
                 "--out", str(tmp_path / "results.json")], env)
    assert timed.returncode == 0, timed.stderr

    written = sorted(str(path.relative_to(home)) for path in home.rglob("*"))
    assert written == [], f"the runtimes wrote {written} (telemetry ids and caches) into the user's home"


def test_a_user_who_allows_telemetry_keeps_the_runtimes_own_behaviour(tmp_path):
    probe_code = ("import os, sys; import edge_pipeline.backends.openvino.backend, edge_pipeline.backends.onnxruntime; "
                  "print(sys.modules['openvino_telemetry'] is not None, os.environ['ORT_DISABLE_TELEMETRY'])")
    home = tmp_path / "home"
    home.mkdir()
    allowed = user_env(home, EDGE_PIPELINE_OPENVINO_TELEMETRY="1", ORT_DISABLE_TELEMETRY="0")
    by_default = user_env(home)

    def state(env):
        return subprocess.run([sys.executable, "-c", probe_code], env=env, capture_output=True, text=True,
                              check=True).stdout.split()

    assert state(allowed) == ["True", "0"]
    assert state(by_default) == ["False", "1"]
