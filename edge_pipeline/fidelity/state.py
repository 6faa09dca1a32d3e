"""Calibration data for a model with state: the state inputs replaced by the states the FP32 model
itself carries in closed loop. A recorded stream usually starts from a zero state, so calibrating
on the data's own state arrays would calibrate the state path on zeros; deployed, the model reads
its own previous state, and those are the values whose ranges INT8 must hold."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edge_pipeline.backends.base import RunnerOptions
from edge_pipeline.backends.registry import get_backend
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.calibration.layout import run_closed_loop, sample_axis, samples

REFERENCE_BACKEND = "onnxruntime"


def with_carried_states(source_onnx: Path, data: ArrayDataset) -> ArrayDataset:
    """``data`` with every state input as the FP32 model feeds it in closed loop: the data's own
    state at a sequence start, else the model's state output of the sample before."""
    layout = data.layout
    if not layout.state:
        return data
    with get_backend(REFERENCE_BACKEND).runner(Path(source_onnx), RunnerOptions(threads=2)) as reference:
        arrays = data.named_for([i.name for i in reference.inputs])
        dtypes = {i.name: i.dtype for i in reference.inputs}
        outputs = run_closed_loop(reference.infer, arrays, layout, data.sequence_start, dtypes)
    carried = dict(data.arrays)
    starts = np.zeros(len(data), bool) if data.sequence_start is None else np.asarray(data.sequence_start, bool)
    starts[0] = True
    for output, name in layout.state.items():
        produced, out_axis = outputs[output], layout.output_axis(output)
        parts = [data.samples_of(name, i, i + 1) if starts[i] else samples(produced, i - 1, i, out_axis)
                 for i in range(len(data))]
        dtype = np.asarray(data.arrays[name]).dtype
        carried[name] = np.concatenate(parts, axis=sample_axis(layout.input_axis(name))).astype(dtype, copy=False)
    return replace(data, arrays=carried, sha256=f"{data.sha256}|carried-states")
