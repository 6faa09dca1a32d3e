"""OpenVINO CPU: ONNX -> IR, NNCF INT8 on the IR, and runners with an explicit inference precision.

Rows: the FP32 IR is timed as ``f32`` (INFERENCE_PRECISION_HINT=f32, the honest FP32 baseline)
and, where the CPU has bf16, as ``bf16`` (the plugin's silent default on such CPUs); the INT8 IR
is timed once, with its float leftovers in ``options.int8_float_precision``.

Only the runner's imports (openvino, numpy) load at import time: a device that just times IRs
has no nncf or onnx; conversion and quantization import them when called.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import openvino as ov

from edge_pipeline.backends.base import (
    Backend,
    ExecutedLayer,
    FallbackStrategy,
    ProducedArtifact,
    Runner,
    RunnerOptions,
)
from edge_pipeline.backends.openvino.options import check_eval_data, check_method, parse_options
from edge_pipeline.backends.openvino.runner import OpenVinoRunner, cpu_supports_bf16
from edge_pipeline.errors import ConfigError

_COMPUTE_LAYERS = {"Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul"}


def nncf_model_type(onnx_path: Path, config, options) -> str:
    """options.model_type when a target sets it; else quantize.preset, where auto reads the graph."""
    if options.model_type is not None:
        return options.model_type
    if config.preset != "auto":
        return config.preset
    import onnx

    from edge_pipeline.backends.onnx_graph import analyse_graph

    return "transformer" if analyse_graph(onnx.load(str(onnx_path), load_external_data=False)).is_transformer else "cnn"


def _batch_one(model: ov.Model) -> ov.Model:
    """``model`` with each input's dynamic first dimension set to 1 (other dynamic dims stay)."""
    shapes = {}
    for port in model.inputs:
        shape = port.get_partial_shape()
        if shape.rank.is_static and shape.rank.get_length() > 0 and shape[0].is_dynamic:
            shape[0] = ov.Dimension(1)
            shapes[port] = shape
    if shapes:
        model.reshape(shapes)
    return model


class OpenVinoBackend(Backend):
    name = "openvino"
    runs_exported_onnx = False

    @classmethod
    def versions(cls) -> dict[str, str]:
        found = {"openvino": ov.get_version()}
        for package in ("openvino", "nncf"):
            try:
                found[f"{package}-package"] = version(package)
            except PackageNotFoundError:
                pass
        return found

    def check_target(self, target, recipe) -> None:
        """Options, calibration method and max_drop's eval split, checked before any stage runs."""
        parse_options(target.options, f"target {target.metadata.name}")
        if "int8" in target.precisions:
            check_method(target.quantize)
            if recipe.data.eval is None:
                check_eval_data(target.quantize, None)

    def runner(self, path: Path, options: RunnerOptions) -> Runner:
        return OpenVinoRunner(path, options)

    def runtime_variants(self, precision: str, target) -> list[str]:
        options = parse_options(target.options, f"target {target.metadata.name}")
        if precision == "int8":
            return [options.int8_float_precision]
        variants = ["f32"]
        if options.bf16_variant and cpu_supports_bf16():
            variants.append("bf16")
        return variants

    def prepare_fp32(self, onnx_path: Path, target, out_dir: Path) -> list[ProducedArtifact]:
        from edge_pipeline.backends.openvino.convert import convert_onnx, save_ir

        options = parse_options(target.options, f"target {target.metadata.name}")
        model = convert_onnx(onnx_path)
        weights = "fp16" if options.compress_to_fp16 else "fp32"
        xml = save_ir(model, Path(out_dir) / "model.xml", options.compress_to_fp16)
        meta = {"weights_precision": weights, "converter": f"openvino.convert_model {ov.get_version()}"}
        return [ProducedArtifact(xml, "openvino-ir", "fp32", meta=meta)]

    def layer_outputs(self, path: Path, options: RunnerOptions, feed, names: list[str]):
        """Outputs added to the IR at every port that still carries one of the ONNX tensor names
        (NNCF inserts its FakeQuantize after them), compiled with FP32 inference precision."""
        from edge_pipeline.backends.openvino.runner import core

        model = core().read_model(str(path))
        wanted = set(names)
        ports = {}
        for op in model.get_ordered_ops():
            for port in op.outputs():
                hits = wanted & set(port.get_names())
                if hits and op.get_type_name() not in ("Parameter", "Constant", "Result"):
                    ports.setdefault(sorted(hits)[0], port)
        if not ports:
            return {}
        model.add_outputs(list(ports.values()))
        compiled = core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                       "INFERENCE_NUM_THREADS": options.threads})
        result = compiled(feed)
        by_names = {name: value for port, value in result.items() for name in port.get_names()}
        return {name: by_names[name] for name in ports if name in by_names}

    def executed_layers(self, path: Path, options: RunnerOptions) -> list[ExecutedLayer] | None:
        """Read from the CPU plugin's runtime model: each compute layer's runtimePrecision (i8/u8 or
        a float type) and kernel (primitiveType: which ISA path, e.g. 'jit_gemm_i8',
        'brgconv_avx512_amx_I8'), named by the first source operation it was made from.

        A dynamic batch is set to 1 first: the plugin picks a shape-dependent layer's kernel at the
        first inference ('undef' until then), and batch 1 is what the benchmark times by default."""
        from edge_pipeline.backends.openvino.runner import core

        config = {"INFERENCE_PRECISION_HINT": "f32"}
        try:
            compiled = core().compile_model(_batch_one(core().read_model(str(path))), "CPU", config)
        except RuntimeError:  # a first dim that is not a batch refuses 1: as it is, kernels maybe unnamed
            compiled = core().compile_model(str(path), "CPU", config)
        layers = []
        for op in compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            layer_type = info["layerType"].astype(str)
            if layer_type not in _COMPUTE_LAYERS:
                continue
            precision = "int8" if info["runtimePrecision"].astype(str) in ("i8", "u8") else "float"
            sources = tuple(dict.fromkeys(n.split("/")[0] for n in info["originalLayersNames"].astype(str).split(",")))
            kernel = info["primitiveType"].astype(str)
            layers.append(ExecutedLayer(sources[0], layer_type, precision, sources,
                                        "" if kernel.startswith("undef") else kernel))
        return layers

    def fallback_strategies(self, onnx_path: Path, config, target) -> list[FallbackStrategy]:
        """What NNCF offers that typically restores fidelity, cheapest first. A transformer: asymmetric
        activations (the mixed preset: GELU and softmax outputs are one-sided), SmoothQuant off (its
        migration can push weight ranges past what 8 bits hold), then the attention MatMuls kept
        float (their ignored scope) with the projections INT8. A CNN: asymmetric activations (ReLU
        outputs waste half a symmetric range), percentile ranges for a min/max calibration, then
        NNCF's full bias correction (slower, measured per layer)."""
        import onnx

        from edge_pipeline.backends.onnx_graph import analyse_graph, attention_float_strategy

        options = parse_options(target.options, f"target {target.metadata.name}")
        if config.activations != "static" or config.max_drop is not None:
            return []  # refused anyway, or accuracy control already decides what stays float
        strategies: list[FallbackStrategy] = []
        mixed = FallbackStrategy("NNCF mixed preset (asymmetric activations)", options={"preset": "mixed"})
        traits = analyse_graph(onnx.load(str(onnx_path), load_external_data=False))
        if config.preset == "transformer" or (config.preset == "auto" and traits.is_transformer):
            if options.model_type == "cnn":  # a target that forced it: NNCF's transformer patterns are off
                strategies.append(FallbackStrategy("NNCF transformer model type",
                                                   options={"model_type": "transformer"}))
            if options.preset != "mixed":
                strategies.append(mixed)
            if options.smooth_quant and options.model_type != "cnn":
                strategies.append(FallbackStrategy("SmoothQuant off", options={"smooth_quant": False}))
            attention = attention_float_strategy(traits, config)
            strategies += [attention] if attention is not None else []
            return strategies
        if options.preset != "mixed":
            strategies.append(mixed)
        if config.method == "minmax":
            strategies.append(FallbackStrategy("percentile calibration", {"method": "percentile"}))
        if options.fast_bias_correction:
            strategies.append(FallbackStrategy("NNCF full bias correction", options={"fast_bias_correction": False}))
        return strategies

    def quantize(self, onnx_path: Path, dataset, config, target, out_dir: Path,
                 eval_data=None, metric=None) -> list[ProducedArtifact]:
        from edge_pipeline.backends.openvino.convert import convert_onnx, save_ir
        from edge_pipeline.backends.openvino.names import OnnxNames
        from edge_pipeline.backends.openvino.quantize import check_calibration_memory, quantize_model

        options = parse_options(target.options, f"target {target.metadata.name}")
        check_eval_data(config, eval_data, metric)
        check_method(config)
        if config.activations != "static":
            raise ConfigError(f"target {target.metadata.name}: quantize.activations '{config.activations}' is an "
                              "ONNX Runtime mode; NNCF calibrates static scales (set it on the ONNX Runtime target)")
        options = options.model_copy(update={"model_type": nncf_model_type(onnx_path, config, options)})
        check_calibration_memory(onnx_path, dataset, config, f"target '{target.metadata.name}'")
        model = convert_onnx(onnx_path)
        quantized, meta = quantize_model(model, dataset, config, options, eval_data, metric, OnnxNames.read(onnx_path),
                                         Path(onnx_path))
        xml = save_ir(quantized, Path(out_dir) / "model.xml", options.compress_to_fp16)
        return [ProducedArtifact(xml, "openvino-ir", "int8", meta=meta)]
