"""ONNX Runtime Mobile: ORT-format models, the reduced-build operator config, and which
execution providers (NNAPI, CoreML, XNNPACK) could take the model on the device.

Everything here is done with ONNX Runtime's own tooling (``onnxruntime.tools``): the conversion
is ``convert_onnx_models_to_ort`` and the NNAPI/CoreML verdicts are its mobile usability checker's
partitioning, so the answers match what ORT Mobile will do. ORT ships no checker for XNNPACK; that
estimate runs the same partitioning routine over ``XNNPACK_SUPPORTED_OPS`` below.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from pathlib import Path

from edge_pipeline.artifacts.atomic import write_json
from edge_pipeline.backends.base import ProducedArtifact
from edge_pipeline.backends.onnxruntime.options import OnnxRuntimeOptions, OrtMobileOptions
from edge_pipeline.calibration.layout import Layout
from edge_pipeline.errors import ConfigError, StageError
from edge_pipeline.logs import quiet_logger
from edge_pipeline.progress import progress

# The kernels ORT's XNNPACK EP registers (onnxruntime/core/providers/xnnpack), in the checker's
# "domain:op -> caveat" form. Q/DQ count only as part of a QDQ node unit around one of these ops,
# and Relu/Clip only when fused into the op before them: the estimate is optimistic about both.
XNNPACK_SUPPORTED_OPS = {
    "ai.onnx:Conv": "Only 2D; weights constant.",
    "ai.onnx:ConvTranspose": "Only 2D; weights constant.",
    "ai.onnx:MaxPool": "Only 2D.",
    "ai.onnx:AveragePool": "Only 2D.",
    "ai.onnx:Softmax": "",
    "ai.onnx:Resize": "Only 2D bilinear/nearest.",
    "ai.onnx:Gemm": "Input B constant.",
    "ai.onnx:MatMul": "Input B constant, 2D.",
    "ai.onnx:QLinearConv": "",
    "com.microsoft:QLinearConv": "",
    "com.microsoft:QLinearAveragePool": "",
    "com.microsoft:QLinearSoftmax": "",
    "com.microsoft:QLinearConvTranspose": "",
    "ai.onnx:QuantizeLinear": "Only inside a QDQ node unit around a supported op.",
    "ai.onnx:DequantizeLinear": "Only inside a QDQ node unit around a supported op.",
    "ai.onnx:Relu": "Only fused into a preceding Conv/Pool/Gemm.",
    "ai.onnx:Clip": "Only fused into a preceding Conv/Pool/Gemm; min/max constant.",
}


def mobile_options(target) -> OrtMobileOptions | None:
    """The validated ``options.ort_mobile`` of ``target``, or None when it asks for no mobile artifacts."""
    from edge_pipeline.backends.registry import typed_options

    options: OnnxRuntimeOptions = typed_options(target)
    return options.ort_mobile


def produce_mobile_artifacts(qdq_onnx: Path, out_dir: Path, options: OrtMobileOptions,
                             layout: Layout | None = None) -> list[ProducedArtifact]:
    """Convert ``qdq_onnx`` to ORT format in ``out_dir/ort`` and check EP usability; never touches the input.
    ``layout``: where each input holds its batch (the fixed batch size is set there)."""
    ort_dir = Path(out_dir) / "ort"
    ort_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ep-ort-mobile-") as tmp:
        source = Path(tmp) / qdq_onnx.name
        if options.fixed_batch_size is not None:
            fix_batch_size(qdq_onnx, source, options.fixed_batch_size, layout)
        else:
            shutil.copyfile(qdq_onnx, source)
        models, configs = convert_to_ort(source, ort_dir, options)
        unreplayable = drop_unreplayable(models, configs, qdq_onnx.name)
        summary = usability_summary(source, options.execution_providers)
    summary["fixed_batch_size"] = options.fixed_batch_size
    summary["styles_not_shipped"] = unreplayable
    summary_path = ort_dir / "ep_usability.json"
    write_json(summary_path, summary)
    common = {"source_onnx": qdq_onnx.name, "fixed_batch_size": options.fixed_batch_size,
              "target_platform": options.target_platform}
    produced = [
        ProducedArtifact(path, "ort", "int8", variant=f"ort-{style}", meta={**common, "optimization_style": style})
        for style, path in models.items()
    ]
    produced += [
        ProducedArtifact(path, "ort-required-operators", "int8", variant=f"required-operators-{style}",
                         meta={**common, "optimization_style": style})
        for style, path in configs.items()
    ]
    usable = [name for name, verdict in summary["execution_providers"].items() if verdict["usable"] != "no"]
    produced.append(ProducedArtifact(summary_path, "ort-ep-usability", "int8", variant="ep-usability",
                                     meta={**common, "usable_execution_providers": usable,
                                           "styles_not_shipped": unreplayable}))
    return produced


def fix_batch_size(source: Path, destination: Path, batch_size: int, layout: Layout | None = None) -> None:
    """Each input's batch axis (``layout``; axis 0 by default) set to ``batch_size``; an input without
    one (a scalar) keeps its shape."""
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_input_shape_fixed

    layout = layout or Layout()
    model = onnx.load(str(source))
    for graph_input in model.graph.input:
        axis = layout.input_axis(graph_input.name)
        # check_mobile_source ruled out dynamic dims off the batch axis
        shape = [batch_size if index == axis else d.dim_value
                 for index, d in enumerate(graph_input.type.tensor_type.shape.dim)]
        make_input_shape_fixed(model.graph, graph_input.name, shape)
    fix_output_shapes(model)
    onnx.save(model, str(destination))


_STYLE_SUFFIX = {"fixed": "", "runtime": ".with_runtime_opt"}


def drop_unreplayable(models: dict[str, Path], configs: dict[str, Path], source_name: str) -> dict[str, str]:
    """Remove (from ``models``/``configs`` and from disk: files this step just wrote) each ORT-format
    model this host's ONNX Runtime cannot load with its saved optimizations replayed; returns style ->
    reason. ORT 1.32 records QDQ MatMul fusions it then cannot replay ("Not enough produced nodes in
    the runtime optimization record"), so encoders come out with a 'runtime' model that never loads;
    shipping it would be shipping a file that looks finished and is not. Fails when none is left."""
    import onnxruntime as ort

    dropped = {}
    for style, path in list(models.items()):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
        try:
            ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own Fail/RuntimeException types
            dropped[style] = str(exc).splitlines()[0]
            path.unlink(missing_ok=True)
            config = configs.pop(style, None)
            if config is not None:
                config.unlink(missing_ok=True)
            del models[style]
    for style, reason in dropped.items():
        progress("quantize", f"note: the ORT-format '{style}' model of {source_name} does not load in "
                             f"ONNX Runtime {ort.__version__} ({reason}); not shipped")
    if not models:
        raise StageError(f"no ORT-format model of {source_name} loads ({dropped}); "
                         "set options.ort_mobile.optimization_styles to a style that does, or drop ort_mobile")
    return dropped


def convert_to_ort(source: Path, ort_dir: Path, options: OrtMobileOptions) -> tuple[dict[str, Path], dict[str, Path]]:
    """One ``convert_onnx_models_to_ort`` call per style; returns style -> .ort and style -> .config paths."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    styles = {"fixed": OptimizationStyle.Fixed, "runtime": OptimizationStyle.Runtime}
    models, configs = {}, {}
    for style in dict.fromkeys(options.optimization_styles):
        log = io.StringIO()
        try:
            # The tool reports progress with print() and INFO logs; keep both out of the pipeline's output.
            with contextlib.redirect_stdout(log), quiet_logger("ort_format_model.utils"):
                convert_onnx_models_to_ort(
                    source,
                    output_dir=ort_dir,
                    optimization_styles=[styles[style]],
                    target_platform=options.target_platform,
                    enable_type_reduction=options.type_reduction,
                )
        except Exception as exc:
            raise StageError(
                f"ORT-format conversion ({style}) of {source.name} failed: {str(exc).splitlines()[0]}"
            ) from exc
        stem = source.with_suffix("").name
        models[style] = ort_dir / f"{stem}{_STYLE_SUFFIX[style]}.ort"
        config_name = "required_operators_and_types" if options.type_reduction else "required_operators"
        config = ort_dir / f"{stem}.{config_name}{_STYLE_SUFFIX[style]}.config"
        if options.required_operators:
            _strip_paths(config)
            configs[style] = config
        else:
            config.unlink(missing_ok=True)
    return models, configs


def _strip_paths(config: Path) -> None:
    """The tool lists the models it read by absolute (temp, cache) path; keep file names only, so
    the config is the same wherever it was made and leaks no local paths into the bundle."""
    lines = [f"# - {Path(line[4:].strip()).name}" if line.startswith("# - ") else line
             for line in config.read_text().splitlines()]
    config.write_text("\n".join(lines) + "\n")


def check_mobile_source(onnx_path: Path, options: OrtMobileOptions, layout: Layout | None = None) -> None:
    """Refuse, before calibration, a model whose batch cannot be fixed (dynamic dims off each input's
    batch axis, which ``layout`` gives; axis 0 by default)."""
    if options.fixed_batch_size is None:
        return
    import onnx

    layout = layout or Layout()
    for graph_input in onnx.load(str(onnx_path), load_external_data=False).graph.input:
        axis = layout.input_axis(graph_input.name)
        dims = [d for index, d in enumerate(graph_input.type.tensor_type.shape.dim) if index != axis]
        if not all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
            raise ConfigError(
                f"{onnx_path.name}: input '{graph_input.name}' has dynamic non-batch dimensions, so "
                f"options.ort_mobile.fixed_batch_size cannot fix its shape; set it to null or export fixed shapes"
            )


def usability_summary(model_path: Path, providers: list[str]) -> dict:
    """Per EP: nodes it takes, partitions, unsupported ops and a yes/maybe/no verdict, as is and with fixed shapes.

    Uses the usability checker's own steps (basic-level optimization, shape inference, partitioning)
    but returns the numbers instead of logging prose.
    """
    import onnxruntime
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    checks = {
        "nnapi": lambda m, fixed: uc.check_nnapi_partitions(m, fixed),
        "coreml": lambda m, fixed: uc.check_coreml_partitions(m, fixed, "coreml_supported_mlprogram_ops.md"),
    }
    with tempfile.TemporaryDirectory(prefix="ep-ort-usability-") as tmp:
        xnnpack_ops = Path(tmp) / "xnnpack_supported_ops.md"
        xnnpack_ops.write_text("".join(f"|{op}|{caveat}|\n" for op, caveat in XNNPACK_SUPPORTED_OPS.items()))
        # ORT's checker reads an op table file; the private helper is the only entry that takes one.
        checks["xnnpack"] = lambda m, fixed: uc._check_ep_partitioning(m, xnnpack_ops, fixed)
        optimized = Path(tmp) / model_path.name
        optimize_model(model_path, optimized, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        dynamic_inputs, _ = uc.check_shapes(model.graph, logging.getLogger("edge_pipeline.ort_mobile"))
        summary = {
            "checker": f"onnxruntime {onnxruntime.__version__} tools.mobile_helpers.usability_checker",
            "model": model_path.name,
            "dynamic_inputs": [i.name for i in dynamic_inputs],
            "execution_providers": {
                name: _ep_verdict(checks[name], model, bool(dynamic_inputs), cpu_ep=name == "xnnpack")
                for name in providers
            },
        }
    if "xnnpack" in providers:
        summary["execution_providers"]["xnnpack"]["source"] = (
            "estimate: ORT's partitioning over this project's XNNPACK op table (ORT ships no XNNPACK "
            "checker); judged by node coverage, as XNNPACK shares CPU memory and partitions cost no copies"
        )
    return summary


def _ep_verdict(check, model, has_dynamic_inputs: bool, cpu_ep: bool) -> dict:
    info = check(model, True)
    verdict = _partition_record(info, cpu_ep)
    if has_dynamic_inputs and verdict["suitability"] != "yes":
        verdict["if_shapes_fixed"] = _partition_record(check(model, False), cpu_ep)
    best = max([verdict] + ([verdict["if_shapes_fixed"]] if "if_shapes_fixed" in verdict else []),
               key=lambda v: ("no", "maybe", "yes").index(v["suitability"]))
    verdict["usable"] = best["suitability"]
    return verdict


def _partition_record(info, cpu_ep: bool) -> dict:
    return {
        "suitability": _cpu_ep_suitability(info) if cpu_ep else info.suitability().name.lower(),
        "supported_nodes": info.num_supported_nodes,
        "nodes": info.num_nodes,
        "partitions": info.num_partitions,
        "partition_sizes": [len(group) for group in info.supported_groups],
        "unsupported_ops": sorted(info.unsupported_ops),
        "nodes_unsupported_due_to_dynamic_shape": info.nodes_unsupported_due_to_dynamic_input,
        "caveats": info.supported_ops_checker.get_caveats(),
    }


def _cpu_ep_suitability(info) -> str:
    """ORT's verdict penalises every partition beyond two for the copy to and from an NPU. XNNPACK
    runs in CPU memory beside the CPU EP, so there is no copy: judge it by node coverage alone."""
    share = info.num_supported_nodes / max(info.num_nodes, 1)
    return "yes" if share > 0.75 else "maybe" if share > 0.5 else "no"
