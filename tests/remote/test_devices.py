"""devices.yaml, the benchmarker zipapp on a torch-free Python, and ssh's failures read as one
line each: what needs no ssh server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edge_pipeline.cli.main import main
from edge_pipeline.errors import ConfigError, DeviceError
from edge_pipeline.remote import device_main
from edge_pipeline.remote.benchmark import check_targets
from edge_pipeline.remote.devices import DEVICES_ENV, devices_path, load_devices
from edge_pipeline.remote.pack import build_zipapp, device_modules
from edge_pipeline.remote.result_files import device_outputs
from edge_pipeline.remote.ssh import Link
from tests.backends.test_telemetry import user_env
from tests.remote.conftest import write_devices


def test_devices_file_is_strict_and_names_the_key(tmp_path):
    path = write_devices(tmp_path / "devices.yaml", {"pi": {"host": "pi.local", "prot": 22}})
    with pytest.raises(ConfigError, match=r"unknown key 'devices.pi.prot'"):
        load_devices(path)
    write_devices(path, {"pi": {"host": "-oProxyCommand=x"}})
    with pytest.raises(ConfigError, match="not a plain host"):
        load_devices(path)
    write_devices(path, {"pi": {"host": "pi.local", "workdir": "~/runs"}})
    with pytest.raises(ConfigError, match="plain path"):
        load_devices(path)
    with pytest.raises(ConfigError, match="does not exist; write one"):
        load_devices(tmp_path / "absent.yaml")


def test_devices_path_flag_then_environment_then_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(DEVICES_ENV, raising=False)
    assert devices_path(None) == Path("devices.yaml")
    monkeypatch.setenv(DEVICES_ENV, str(tmp_path / "env.yaml"))
    assert devices_path(None) == tmp_path / "env.yaml"
    assert devices_path(tmp_path / "flag.yaml") == tmp_path / "flag.yaml"


def test_record_keeps_the_key_path_never_the_key(tmp_path):
    key = tmp_path / "id"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    path = write_devices(tmp_path / "devices.yaml", {"pi": {"host": "pi.local", "user": "pi", "key_file": str(key)}})
    record = load_devices(path).devices["pi"].record("pi")
    assert record["key_file"] == str(key) and record["host"] == "pi.local"
    assert "secret" not in json.dumps(record)


def test_each_device_gets_its_own_result_files(tmp_path):
    assert device_outputs(tmp_path / "r.json", None, "pi", several=False) == (tmp_path / "r.json", tmp_path / "r.csv")
    assert device_outputs(tmp_path / "r.json", None, "pi", several=True) == (tmp_path / "r.pi.json",
                                                                             tmp_path / "r.pi.csv")
    assert device_outputs(tmp_path, None, "pi", several=True)[0] == tmp_path / "benchmark.pi.json"


def test_an_artifact_of_a_target_the_device_does_not_serve_is_refused(tmp_path):
    path = write_devices(tmp_path / "devices.yaml", {"jetson": {"host": "j", "targets": ["jetson-orin-tensorrt"]}})
    device = load_devices(path).devices["jetson"]
    model = tmp_path / "bundle" / "artifacts" / "net" / "x86-cpu-onnxruntime" / "int8" / "model.int8.onnx"
    with pytest.raises(ConfigError, match="target x86-cpu-onnxruntime, which device 'jetson' does not serve"):
        check_targets("jetson", device, [model], path)
    check_targets("jetson", device, [tmp_path / "model.onnx"], path)  # not from a bundle: nothing to tell


@pytest.mark.parametrize(("stderr", "expected"), [
    ("ssh: connect to host 10.0.0.9 port 22: Connection refused", "connection refused; start sshd"),
    ("root@127.0.0.1: Permission denied (publickey).", "authentication failed with the key"),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.",
     "does not match known_hosts"),
    ("No ED25519 host key is known for [h]:22 and you have requested strict checking.\nHost key verification failed.",
     "not in known_hosts; connect once by hand"),
    ("scp: write remote \"x\": No space left on device", "its disk is full"),
    ("Connection to 127.0.0.1 closed by remote host.", "the connection dropped"),
    ("ssh: Could not resolve hostname jetson: Name or service not known", "unreachable"),
])
def test_ssh_failures_become_one_line_naming_the_device_and_the_fix(tmp_path, stderr, expected):
    key = tmp_path / "id"
    key.write_text("k")
    path = write_devices(tmp_path / "devices.yaml", {"jetson": {"host": "h", "key_file": str(key)}})
    error = Link("jetson", load_devices(path).devices["jetson"], path).error_from(stderr, "copying the files")
    assert isinstance(error, DeviceError) and error.exit_code == 10
    text = str(error)
    assert "\n" not in text and text.startswith("device 'jetson' (h:22): ") and expected in text


def test_zipapp_holds_no_torch_code_and_probes_a_torch_free_python(tmp_path, device_python):
    torch_side = {"modeling", "training", "stages", "engine", "distillation", "pruning"}
    assert not [m for m in device_modules() if set(m.split(".")[1:2]) & torch_side]
    zipapp = build_zipapp(tmp_path / "bench.pyz")
    run = tmp_path / f"{device_main.RUN_PREFIX}probe"
    run.mkdir()
    torch = subprocess.run([str(device_python), "-c", "import torch"], capture_output=True, text=True)
    assert torch.returncode != 0 and "No module named 'torch'" in torch.stderr
    board_home = tmp_path / "board-home"
    board_home.mkdir()
    proc = subprocess.run([str(device_python), str(zipapp), "probe", "onnxruntime,openvino"], cwd=run,
                          capture_output=True, text=True, timeout=60, env=user_env(board_home))
    assert proc.returncode == 0, proc.stderr
    assert list(board_home.iterdir()) == []  # the runtime loaded with its telemetry off: no device id kept
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith(device_main.MARK)]
    probed = json.loads(line.split(" ", 1)[1])
    assert probed["modules"]["onnxruntime"]["ok"] and not probed["modules"]["openvino"]["ok"]
    assert probed["fingerprint"]["cpu_model"] and "onnxruntime" in probed["fingerprint"]["runtime_versions"]
    assert probed["free_bytes"] > 0


def test_device_without_devices_file_is_a_config_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DEVICES_ENV, raising=False)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"x")
    assert main(["benchmark", "--device", "jetson", str(model)]) == 2
    assert "devices file devices.yaml does not exist" in capsys.readouterr().err
