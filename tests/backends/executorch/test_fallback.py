"""The fidelity fallback on ExecuTorch: a floor plain PT2E INT8 misses is met by keeping the layer the
per-layer view (the converted program in torch) names float, by its torch module; the FP32 ONNX's
node names lead to modules, and a name that leads nowhere is one line naming it."""

from __future__ import annotations

import json

import pytest

from edge_pipeline import api
from edge_pipeline.backends.registry import installed
from edge_pipeline.errors import ConfigError
from edge_pipeline.testing.kit import kit_recipe
from tests.conftest import write_recipe

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not installed("executorch"), reason="executorch not installed (pip install '.[executorch]')"),
]
TARGET = "x86-cpu-executorch"


def _recipe(workdir, **quantize) -> dict:
    recipe = kit_recipe("detector", workdir, samples=24)
    # Dynamic linear activations on already: the fallback's one whole-model strategy for this CNN is
    # then spent, so the layer search (what this tests) runs.
    recipe.update(targets=[TARGET], stages=["export", "quantize"], target_options={TARGET: {"dynamic_linear": True}})
    recipe["quantize"].update(samples=16, fidelity_samples=16, placement="off", **quantize)
    return recipe


def _int8(bundle) -> dict:
    manifest = json.loads((bundle / "manifest.json").read_text())
    return next(a for a in manifest["artifacts"] if a["target"] == TARGET and a["precision"] == "int8")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("executorch-fallback")


@pytest.fixture(scope="module")
def plain(workdir):
    """The two-output detector's bundle: FP32 and plain INT8 .pte files, no fallback."""
    return api.run(write_recipe(workdir / "plain.yaml", _recipe(workdir, min_cosine=None, fallback=False)),
                   workdir / "plain", cache_dir=workdir / "cache")


@pytest.fixture(scope="module")
def floor(plain) -> float:
    """Half plain INT8's error on its worst output: a floor it misses on any CPU."""
    artifact = _int8(plain)
    assert artifact["meta"]["divergence"], "the per-layer view ranks the fallback's candidates"
    worst = min(figures["cosine"] for figures in artifact["meta"]["fidelity_check"].values())
    assert worst < 1.0
    return round(1.0 - (1.0 - worst) / 2, 9)


def test_a_repeat_lowering_is_written_from_memory(workdir, plain, tmp_path, monkeypatch):
    """The same program asked for again in one process (placement's FP32, the fallback's base INT8)
    is the .pte and sidecar the first lowering wrote, and is not lowered again."""
    from edge_pipeline.backends.executorch import lower
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.config.recipes import load_target

    onnx_path = next((workdir / "cache").glob("stages/export/*/*.fp32.onnx"))
    target = load_target(TARGET)
    target = target.model_copy(update={"options": {**target.options, "dynamic_linear": True}})  # as _recipe's
    backend, lowered = get_backend("executorch"), []
    real = lower.lower_fp32
    monkeypatch.setattr(lower, "lower_fp32", lambda *args: lowered.append(1) or real(*args))
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    [first] = backend.prepare_fp32(onnx_path, target, tmp_path / "a")  # plain's, unless evicted since
    count = len(lowered)
    [again] = backend.prepare_fp32(onnx_path, target, tmp_path / "b")
    assert len(lowered) == count <= 1
    assert again.meta == first.meta
    for suffix in ("", ".json"):
        assert (tmp_path / "b" / (again.path.name + suffix)).read_bytes() == (first.path.parent / (
            first.path.name + suffix)).read_bytes()


def test_a_missed_floor_is_met_by_keeping_a_layer_float_by_its_module(workdir, floor):
    bundle = api.run(write_recipe(workdir / "fallback.yaml", _recipe(workdir, min_cosine=floor)),
                     workdir / "fallback", cache_dir=workdir / "cache")
    artifact = _int8(bundle)
    fallback = artifact["meta"]["fallback"]
    assert 1 <= len(fallback["kept_float"]) <= 2, fallback
    assert fallback["rounds"] and fallback["strategies_tried"] == []
    # ONNX node names (what every backend's fallback keeps) led to the torch modules PT2E left float
    assert set(artifact["meta"]["kept_float"]) == set(fallback["kept_float"])
    assert all(how.startswith("module ") for how in artifact["meta"]["kept_float"].values()), artifact["meta"]
    assert all(figures["cosine"] >= floor for figures in artifact["meta"]["fidelity_check"].values())


def test_names_lead_to_modules_and_one_leading_nowhere_is_named(workdir, floor, tmp_path):
    """An ONNX node name and a torch module name keep the same module float; an unknown name fails
    before calibration, in one line naming it."""
    import numpy as np

    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.calibration.dataset import ArrayDataset
    from edge_pipeline.config.recipes import load_target
    from edge_pipeline.config.schema import QuantizeConfig

    onnx_path = next((workdir / "cache").glob("stages/export/*/*.fp32.onnx"))
    data = ArrayDataset({"image": np.load(workdir / "calibration.npz")["x"]}, None, "calibration.npz", "")
    backend, target = get_backend("executorch"), load_target(TARGET)
    (tmp_path / "a").mkdir()
    made = backend.quantize(onnx_path, data, QuantizeConfig(samples=4, exclude_nodes=["node_Conv_22", "classify"]),
                            target, tmp_path / "a")
    assert made[0].meta["kept_float"] == {"node_Conv_22": "module features.0", "classify": "module classify"}
    floats = {layer.name: layer.precision for layer in backend.executed_layers(made[0].path, None)}
    assert sorted(floats.values()).count("float") >= 2, floats  # the first conv and the logits head
    with pytest.raises(ConfigError, match="'node_nowhere'"):
        backend.quantize(onnx_path, data, QuantizeConfig(exclude_nodes=["node_nowhere"]), target, tmp_path)


def test_whole_model_strategies_are_offered_only_where_they_change_something(workdir, floor):
    from edge_pipeline.backends.registry import get_backend
    from edge_pipeline.config.recipes import load_target
    from edge_pipeline.config.schema import QuantizeConfig

    onnx_path = next((workdir / "cache").glob("stages/export/*/*.fp32.onnx"))  # the detector: a CNN with heads
    backend, target = get_backend("executorch"), load_target(TARGET)

    def offered(config=None, **options) -> list[str]:
        profile = target.model_copy(update={"options": {**target.options, **options}})
        return [s.name for s in backend.fallback_strategies(onnx_path, config or QuantizeConfig(), profile)]

    assert offered() == ["dynamic linear activations"]
    assert offered(per_channel=False) == ["per-channel weight scales", "dynamic linear activations"]
    assert offered(dynamic_linear=True) == []
    assert offered(QuantizeConfig(preset="transformer"), dynamic_linear=True) == ["linear layers kept float"]


def test_both_outputs_meet_the_floor_and_a_pte_runs_alone_by_its_sidecar(plain):
    """Both outputs held to the floor on FP32 and INT8; a .pte then runs on its own with the names
    from its .pte.json (forward order, flattened outputs)."""
    import numpy as np

    from edge_pipeline.backends.base import RunnerOptions
    from edge_pipeline.backends.registry import load_runtime_backend

    manifest = json.loads((plain / "manifest.json").read_text())
    ptes = [a for a in manifest["artifacts"] if a["kind"] == "executorch-pte"]
    assert {a["precision"] for a in ptes} == {"fp32", "int8"}
    for artifact in ptes:
        fidelity = artifact["meta"]["fidelity_check"]
        assert len(fidelity) == 2 and all(figures["cosine"] >= 0.99 for figures in fidelity.values()), fidelity
        assert artifact["meta"]["delegation"]["delegated_subgraphs"] >= 1
    path = plain / next(a for a in ptes if a["precision"] == "fp32")["path"]
    with load_runtime_backend("executorch", str(path)).runner(path, RunnerOptions(threads=1)) as runner:
        got = runner.infer({i.name: np.zeros(i.shape, dtype=i.dtype) for i in runner.inputs})
    assert list(got) == runner.output_names and len(got) == 2
