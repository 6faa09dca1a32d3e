"""ExecuTorch: the recipe's ``torch.export`` program (written by the export stage beside the FP32
ONNX) lowered to ``.pte`` files, with no ONNX round trip, and timed with ExecuTorch's runtime.

FP32 and INT8 (PT2E, XNNPACKQuantizer) are lowered to the XNNPACK delegate or, with
``options.delegate: portable``, left to the portable kernels. The fidelity check runs each ``.pte``
against the FP32 ONNX like every other backend's artifact.

Only the runner's imports (torch, the ExecuTorch runtime) load at import time; lowering and
quantization import the exporter and torchao when called.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edge_pipeline.backends.base import (
    Backend,
    ExecutedLayer,
    FallbackStrategy,
    ProducedArtifact,
    Runner,
    RunnerOptions,
)
from edge_pipeline.backends.executorch.options import parse_options
from edge_pipeline.backends.executorch.runner import ExecuTorchRunner, read_sidecar
from edge_pipeline.errors import ConfigError

KIND = "executorch-pte"


class ExecuTorchBackend(Backend):
    name = "executorch"
    runs_exported_onnx = False

    @classmethod
    def versions(cls) -> dict[str, str]:
        found = {}
        for package in ("executorch", "torchao", "torch"):
            try:
                found[package] = version(package)
            except PackageNotFoundError:
                pass
        return found

    def check_target(self, target, recipe) -> None:
        """Options and the settings PT2E has no counterpart for, checked before any stage runs."""
        options = parse_options(target.options, f"target {target.metadata.name}")
        if "int8" not in target.precisions:
            return
        config = target.quantize
        if config is not None and config.activations != "static":
            raise ConfigError(f"target {target.metadata.name}: quantize.activations '{config.activations}' is an "
                              "ONNX Runtime mode; for dynamic linear layers set options.dynamic_linear: true")
        if not options.symmetric:
            raise ConfigError(f"target {target.metadata.name}: options.symmetric: false is not offered by "
                              "ExecuTorch's XNNPACKQuantizer; set it to true")

    def runner(self, path: Path, options: RunnerOptions) -> Runner:
        return ExecuTorchRunner(path, options)

    def prepare_fp32(self, onnx_path: Path, target, out_dir: Path) -> list[ProducedArtifact]:
        from edge_pipeline.backends.executorch import memo
        from edge_pipeline.backends.executorch.lower import io_names, load_program, lower_fp32, program_path

        options = parse_options(target.options, f"target {target.metadata.name}")
        out = Path(out_dir) / f"{Path(onnx_path).name.removesuffix('.fp32.onnx')}.fp32.pte"
        names = io_names(onnx_path)
        entry = memo.key("fp32", options.model_dump(mode="json"), names, files=[program_path(onnx_path)])
        # the program is loaded only where it is lowered: a repeat needs none of it
        meta = memo.lowered(entry, out, lambda: (lower_fp32(load_program(onnx_path), options, out, names), None))
        return [ProducedArtifact(out, KIND, "fp32", meta=meta)]

    def quantize(self, onnx_path: Path, dataset, config, target, out_dir: Path,
                 eval_data=None, metric=None) -> list[ProducedArtifact]:
        from edge_pipeline.backends.executorch import memo
        from edge_pipeline.backends.executorch.lower import (
            example_args,
            io_names,
            load_program,
            lower_int8,
            program_path,
        )

        options = parse_options(target.options, f"target {target.metadata.name}")
        if config.activations != "static":
            raise ConfigError(f"target {target.metadata.name}: quantize.activations '{config.activations}' is an "
                              "ONNX Runtime mode; for dynamic linear layers set options.dynamic_linear: true")
        options = options.model_copy(update={"per_channel": options.per_channel and config.per_channel})
        program = load_program(onnx_path)
        names = io_names(onnx_path)
        batch = _batch_of(example_args(program), names[0], dataset)
        feeds = list(dataset.take(config.samples).feeds(batch, names[0]))
        out = Path(out_dir) / f"{Path(onnx_path).name.removesuffix('.fp32.onnx')}.int8.pte"
        float_names = [*config.exclude_nodes, *config.keep_float]
        # The same program, settings and calibration feeds lower to the same bytes: a repeat comes from memory.
        entry = memo.key("int8", options.model_dump(mode="json"), names, config.exclude_op_types, float_names,
                         files=[program_path(onnx_path), onnx_path], arrays=feeds)
        meta = memo.lowered(entry, out, lambda: lower_int8(program, options, out, names, feeds,
                                                           config.exclude_op_types, float_names, Path(onnx_path)))
        meta["calibration"] = {"quantizer": "XNNPACKQuantizer", "per_channel": options.per_channel,
                               "dynamic_linear": options.dynamic_linear, "samples": min(config.samples, len(dataset))}
        return [ProducedArtifact(out, KIND, "int8", meta=meta)]

    def fallback_strategies(self, onnx_path: Path, config, target) -> list[FallbackStrategy]:
        """What XNNPACKQuantizer offers that typically restores fidelity, cheapest first, each only
        where it changes something: per-channel weight scales (a target or recipe that turned them
        off), linear layers' activations quantized per call (no calibrated range to get wrong; the
        model has linear layers), then for a transformer its linear layers kept float (the rest of
        its INT8 ops stay: XNNPACK quantizes no activation x activation matmul anyway)."""
        import onnx

        from edge_pipeline.backends.onnx_graph import analyse_graph

        options = parse_options(target.options, f"target {target.metadata.name}")
        if config.activations != "static":
            return []  # refused by quantize anyway
        model = onnx.load(str(onnx_path), load_external_data=False)
        linear = _has_linear(model.graph)
        strategies: list[FallbackStrategy] = []
        if not (options.per_channel and config.per_channel):
            strategies.append(FallbackStrategy("per-channel weight scales", {"per_channel": True},
                                               options={"per_channel": True}))
        if linear and not options.dynamic_linear:
            strategies.append(FallbackStrategy("dynamic linear activations", options={"dynamic_linear": True}))
        transformer = config.preset == "transformer" or (
            config.preset == "auto" and analyse_graph(model).is_transformer)
        if transformer and linear and "Linear" not in config.exclude_op_types:
            strategies.append(FallbackStrategy("linear layers kept float",
                                               {"exclude_op_types": [*config.exclude_op_types, "Linear"]}))
        return strategies

    def layer_outputs(self, path: Path, options: RunnerOptions, feed, names: list[str]):
        """The per-layer view of an INT8 ``.pte`` this process quantized: its PT2E-converted program
        run in torch (the same scales; not the delegate's kernels, see layers.py), read at the
        tensors named as the FP32 ONNX names them. None for any other ``.pte``."""
        from edge_pipeline.backends.executorch.layers import layer_outputs

        axes = {name: options.layout.input_axis(name) for name in feed}
        return layer_outputs(Path(path), feed, names, axes)

    def executed_layers(self, path: Path, options: RunnerOptions) -> list[ExecutedLayer] | None:
        """The compute layers of the lowered program, from the delegation report written beside it:
        each with the kernels that run it (xnnpack: the delegate; portable: ExecuTorch's own)."""
        layers = read_sidecar(Path(path)).get("delegation", {}).get("layers")
        if layers is None:
            return None
        return [ExecutedLayer(layer["name"], layer["op_type"], layer["precision"], kernel=layer["kernel"])
                for layer in layers]


def _has_linear(graph) -> bool:
    """A Gemm, or a MatMul with a weight (an initializer operand): what nn.Linear exports as."""
    weights = {i.name for i in graph.initializer}
    return any(n.op_type == "Gemm" or (n.op_type == "MatMul" and weights & set(n.input)) for n in graph.node)


def _batch_of(example: tuple, input_names: list[str], dataset) -> int:
    """The program's fixed batch, read from its first input at that input's batch axis."""
    axis = dataset.layout.input_axis(input_names[0])
    if axis is None or not example:
        return 1
    return int(example[0].shape[axis])
