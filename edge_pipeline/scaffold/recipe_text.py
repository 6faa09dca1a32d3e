"""The starter recipe's text: every section commented, values as one-line YAML."""

from __future__ import annotations

import yaml

from edge_pipeline.scaffold.facts import ModelFacts

STUB_SAMPLES = 32  # enough for the first run's calibration and fidelity check; real sets want 128-512


def recipe_text(facts: ModelFacts, calibration_name: str, targets: list[str], others: list[str] | None = None) -> str:
    """The recipe as commented YAML; values are dumped by PyYAML (quoting stays right), comments added here."""
    lines = [
        f"# A starter recipe for '{facts.name}', written by `edge-pipeline init`. Check each CONFIRM and",
        "# REPLACE below, then run:  edge-pipeline run THIS_FILE --out bundle",
        "# Every key is checked: an unknown or misspelt key is an error naming it. Paths are relative to",
        "# this file.",
        "",
        "metadata: " + _flow({"name": facts.name}),
        "",
        "# The model. 'name' names its artifacts (artifacts/<name>/...) and its rows in the reports.",
        "model:",
        f"  name: {_flow(facts.name)}",
        *_source_lines(facts.source),
        "",
        "# The model's inputs in forward() order, batch first (batch_axis says where it is otherwise, e.g. 1",
        "# for an RNN state [layers, B, H]; shape [] is a scalar). dynamic_batch exports the batch dimension",
        "# as dynamic; dynamic_axes names other dynamic dimensions; integer inputs (token ids) take",
        "# value_range: [low, high) so synthetic feeds stay inside the embedding.",
        "inputs:",
        *_input_lines(facts),
        "",
        *_output_lines(facts),
        "data:",
        f"  # REPLACE: {calibration_name} holds {STUB_SAMPLES} samples of RANDOM numbers (the right shapes and",
        "  # dtypes) so that the first run works. Calibration sets the INT8 ranges and checks the export:",
        "  # save 128-512 real, preprocessed samples instead, one array per input name:",
        "  #   np.savez('calibration.npz', " + ", ".join(f"{s.name}=..." for s in facts.inputs) + ")",
        "  # or name a function returning {input name: (N, ...) array}:  calibration: {provider: 'mydata:calibration'}",
        "  calibration: " + _flow({"path": calibration_name}),
        "  # Labelled held-out samples (labels under 'y') add accuracy to the report and check INT8 on it:",
        "  # eval: {path: eval.npz}",
        "",
        "# Stages in order; package (the bundle) is appended. distill and prune shrink a PyTorch model",
        "# first and each trains on data the recipe names (there is no default set):",
        "#   stages: [distill, prune, export, quantize, benchmark]",
        "#   distill: {data: {provider: 'mydata:train_arrays'}}   # or {dataset: {path: train.npz}}",
        "#   prune: {data: {provider: 'mydata:train_arrays'}}",
        "stages: [export, quantize, benchmark]",
        "",
        "# Targets whose backend works on this machine (`edge-pipeline targets` lists every profile,",
        "# `edge-pipeline doctor` says what is missing for the others).",
        "targets: " + _flow(list(targets)),
    ]
    if others:
        lines.append("# Also usable here: " + ", ".join(others))
    return "\n".join(lines) + "\n"


def _flow(value) -> str:
    """One YAML value on one line, quoted where YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text.removesuffix("\n...").strip()


def _source_lines(source: dict) -> list[str]:
    if "onnx" in source:
        return [f"  onnx: {_flow(source['onnx'])}        # an ONNX file: export, quantize and benchmark run on it"]
    return [
        f"  factory: {_flow(source['factory'])}   # 'file.py:function' (beside this file) or 'package.module:function'",
        "  # kwargs: {num_classes: 10}             # keyword arguments of the factory",
        "  # checkpoint: weights.safetensors       # a state dict (.safetensors, or .pt loaded with weights_only=True)",
    ]


def _input_lines(facts: ModelFacts) -> list[str]:
    lines = []
    for spec in facts.inputs:
        entry: dict = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}
        if spec.batch_axis != 0 and spec.shape:
            entry["batch_axis"] = spec.batch_axis
        if spec.value_range is not None:
            entry["value_range"] = [int(v) if float(v).is_integer() else v for v in spec.value_range]
        if not spec.dynamic_batch:
            entry["dynamic_batch"] = False
        if spec.dynamic_axes:
            entry["dynamic_axes"] = dict(spec.dynamic_axes)
        lines.append("  - " + _flow(entry))
        lines += [f"    # {line}" for line in facts.confirm.get(spec.name, [])]
    return lines


def _output_lines(facts: ModelFacts) -> list[str]:
    shapes = [f"#   {name}: {list(shape)}" for name, shape in facts.outputs]
    axes = []
    if facts.output_batch_axes:
        axes = ["# Outputs whose batch is not on axis 0 (evaluation joins batches along it):",
                "output_batch_axes: " + _flow(dict(facts.output_batch_axes))]
    if facts.state:
        axes += ["# CONFIRM: outputs shaped like an input, which look like state the model reads back on its next",
                 "# call; uncomment to evaluate closed-loop over ordered samples (each call fed the last one's):",
                 "# state: " + _flow(dict(facts.state))]
    if not facts.declare_outputs:
        return ["# The file's outputs (their names come from the graph); shapes:", *shapes, *axes, ""]
    return ["# Names for the outputs in order, read from one forward pass (rename freely); shapes:", *shapes,
            "outputs: " + _flow([name for name, _ in facts.outputs]), *axes, ""]


