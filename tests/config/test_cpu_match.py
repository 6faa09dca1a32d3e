"""`device.features: auto`: a profile takes the settings of the built-in profile of its family that
this CPU matches, says which, and keys the quantize step's cache with them."""

import json
from types import SimpleNamespace

import pytest

from edge_pipeline.config import cpu_match
from edge_pipeline.config.recipes import load_target
from edge_pipeline.config.schema import QuantizeConfig
from edge_pipeline.errors import ConfigError

AVX2 = {"sse4_2", "avx2", "fma"}
VNNI = AVX2 | {"avx512f", "avx512_vnni"}
AMX = VNNI | {"amx_int8", "amx_bf16"}


@pytest.fixture
def cpu(monkeypatch):
    def use(flags: set[str]) -> None:
        monkeypatch.setattr(cpu_match, "host_flags", lambda: set(flags))
        monkeypatch.setattr("edge_pipeline.benchmarking.host.host_arch", lambda: "x86_64")
    return use


@pytest.mark.parametrize(("flags", "picked", "features"), [
    (AVX2, "x86-cpu-onnxruntime-avx2", ["avx2"]),
    (VNNI, "x86-cpu-onnxruntime", ["avx512_vnni"]),
    (AMX, "x86-cpu-onnxruntime-amx", ["avx512_vnni", "amx_int8"]),
])
def test_auto_takes_the_settings_of_the_profile_this_cpu_matches(cpu, flags, picked, features):
    cpu(flags)
    target = load_target("x86-cpu-onnxruntime-auto")
    matched = load_target(picked)
    assert target.metadata.name == "x86-cpu-onnxruntime-auto"
    assert target.device.features == features
    assert (target.options, target.quantize, target.export, target.benchmark) == (
        matched.options, matched.quantize, matched.export, matched.benchmark)
    assert target.device.picked.startswith(f"x86-cpu-onnxruntime-auto: settings of {picked} (this CPU: ")


def test_the_pick_names_what_this_cpu_has_and_lacks(cpu):
    cpu(AVX2)
    assert load_target("x86-cpu-onnxruntime-auto").device.picked == (
        "x86-cpu-onnxruntime-auto: settings of x86-cpu-onnxruntime-avx2 (this CPU: avx2, no avx512_vnni, no amx_int8)")


def test_no_match_keeps_the_parent_and_its_features_so_the_lacks_warning_still_fires(cpu):
    cpu({"sse4_2"})
    target = load_target("x86-cpu-onnxruntime-auto")
    assert target.device.features == ["avx512_vnni"]
    assert "settings of x86-cpu-onnxruntime (no profile of its family fits this CPU" in target.device.picked


def test_a_user_profile_keeps_its_own_keys_over_the_pick(cpu, tmp_path, monkeypatch):
    cpu(AMX)
    (tmp_path / "my-box.yaml").write_text(
        "metadata: {name: my-box}\nbackend: onnxruntime\nextends: x86-cpu-onnxruntime\n"
        "device: {features: auto}\nbenchmark: {threads: [4]}\n")
    monkeypatch.setenv("EDGE_PIPELINE_TARGETS", str(tmp_path))
    target = load_target("my-box")
    assert target.benchmark.threads == [4] and target.options["conv_kernel"] == "gemm"
    assert target.device.picked.startswith("my-box: settings of x86-cpu-onnxruntime-amx")


def test_auto_without_extends_and_a_written_pick_are_refused(tmp_path, monkeypatch):
    (tmp_path / "lone.yaml").write_text("metadata: {name: lone}\nbackend: onnxruntime\ndevice: {features: auto}\n")
    (tmp_path / "forged.yaml").write_text(
        "metadata: {name: forged}\nbackend: onnxruntime\ndevice: {features: [avx2], picked: x}\n")
    monkeypatch.setenv("EDGE_PIPELINE_TARGETS", str(tmp_path))
    with pytest.raises(ConfigError, match="auto picks among the built-in profiles of the one it extends"):
        load_target("lone")
    with pytest.raises(ConfigError, match="device.picked is written by the loader"):
        load_target("forged")


def test_the_pick_keys_the_quantize_step(cpu, monkeypatch):
    from edge_pipeline.stages import quantize

    monkeypatch.setattr(quantize, "with_carried_states", lambda path, calibration: calibration)
    materials = []

    class View:
        recipe = SimpleNamespace(metric=None, benchmark=load_target("x86-cpu-onnxruntime").benchmark)
        data = SimpleNamespace(calibration=lambda: None, eval=lambda: None)

        def step(self, name, produce, **settings):
            materials.append(json.dumps(settings["config"], sort_keys=True))
            return [], {}

    for flags in (AVX2, VNNI, AMX):
        cpu(flags)
        quantize.quantize_one(View(), None, load_target("x86-cpu-onnxruntime-auto"), QuantizeConfig(),
                              SimpleNamespace(path="model.onnx", model="teacher"))
    assert len(set(materials)) == 3
    assert all('"picked": "x86-cpu-onnxruntime-auto: settings of' in m for m in materials)


def test_targets_marks_the_profile_this_host_matches(cpu, capsys):
    from edge_pipeline.cli.main import main

    cpu(AVX2)
    assert main(["targets", "--json"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    matching = [name for name, t in listed.items() if t["matches_this_host"] and t["backend"] == "onnxruntime"]
    assert matching == ["x86-cpu-onnxruntime-avx2"]
    assert listed["x86-cpu-onnxruntime-auto"]["picked"].startswith(
        "x86-cpu-onnxruntime-auto: settings of x86-cpu-onnxruntime-avx2")
    assert main(["targets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("* x86-cpu-onnxruntime-avx2 ") for line in lines)
    assert lines[-1].startswith("* matches this host's CPU")
