"""The cosine floor, held so that it cannot pass vacuously and so that a miss says all it knows.

A floor compares each quantized output with the FP32 model's on the same samples. Where the FP32
output is one number everywhere (all zeros under an all-zero attention mask, say), any artifact
that reproduces a constant meets it: the check would pass without measuring anything. Such a set
is refused before the floor is judged, naming the output and the inputs that make it so. A miss
names every output below its floor, each figure printed at its floor's own precision, so that
0.99999999 never reads as 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edge_pipeline.benchmarking.fidelity import OutputFidelity
from edge_pipeline.calibration.dataset import ArrayDataset
from edge_pipeline.config.schema import QuantizeConfig
from edge_pipeline.errors import DataError, FidelityFloorError


def floor_of(config: QuantizeConfig, output: str) -> float | None:
    return config.min_cosine_per_output.get(output, config.min_cosine)


def refuse_constant_reference(want: Mapping[str, np.ndarray], data: ArrayDataset, config: QuantizeConfig,
                              what: str) -> None:
    """A DataError where an output held to a floor is one value everywhere in the FP32 run on ``data``."""
    for output, values in want.items():
        value = _single_value(values)
        if value is None or floor_of(config, output) is None:
            continue
        constant_inputs = [f"input '{name}' is {_shown(_single_value(array))} everywhere"
                           for name, array in data.arrays.items() if _single_value(array) is not None]
        cause = (f"on them {', '.join(constant_inputs)}" if constant_inputs
                 else f"no input is constant on them (inputs {sorted(data.arrays)})")
        raise DataError(
            f"{what}: the FP32 model's output '{output}' is {_shown(value)} everywhere on the {len(data)} fidelity "
            f"samples of {data.source}, so any quantized model would meet its cosine floor without being measured; "
            f"{cause}. Use samples that exercise the model (e.g. a real attention mask, not all zeros)")


def hold_floor(fidelity: Mapping[str, OutputFidelity], config: QuantizeConfig, what: str) -> None:
    """A FidelityFloorError naming every output below its floor (reached/floor: the farthest miss)."""
    misses = []
    for name, figures in fidelity.items():
        floor = floor_of(config, name)
        if floor is not None and not figures.cosine >= floor:
            misses.append((floor - figures.cosine, name, figures.cosine, floor))
    if not misses:
        return
    described = ", ".join(f"output '{name}' reaches cosine {at_precision_of(reached, floor)} to FP32, below the "
                          f"floor {_plain(floor)}" for _, name, reached, floor in misses)
    _, _, reached, floor = max(misses, key=lambda miss: miss[0] if np.isfinite(miss[0]) else np.inf)
    raise FidelityFloorError(
        f"{what}: {described}; keep more layers in float (quantize.exclude_nodes / exclude_op_types), calibrate "
        "with more or better data, or lower quantize.min_cosine (or the output's quantize.min_cosine_per_output)",
        artifact=what, reached=reached, floor=floor, below=described,
        shortfall=float(sum(min(gap, 2.0) for gap, *_ in misses)),
    )


def at_precision_of(figure: float, floor: float) -> str:
    """``figure`` with as many decimals as ``floor`` is written with (at least 4), and more where
    fewer would print it equal to the floor: 0.99999998 against 0.99999999, not 1.0000."""
    if not np.isfinite(figure):
        return str(figure)
    decimals = max(4, _decimals(floor))
    text = f"{figure:.{decimals}f}"
    while decimals < 17 and (figure < floor) != (float(text) < floor):
        decimals += 1
        text = f"{figure:.{decimals}f}"
    return text


def _decimals(number: float) -> int:
    written = np.format_float_positional(number, trim="-")
    return len(written.partition(".")[2])


def _plain(number: float) -> str:
    return np.format_float_positional(number, trim="-")


def _single_value(array: np.ndarray):
    """The one value every element of ``array`` holds, or None (an empty or varying array)."""
    flat = np.asarray(array).reshape(-1)
    if flat.size == 0 or flat.dtype == object:
        return None
    first = flat[0]
    if np.issubdtype(flat.dtype, np.floating) and not np.isfinite(first):
        return None
    return first if bool(np.all(flat == first)) else None


def _shown(value) -> str:
    return _plain(float(value)) if np.issubdtype(np.asarray(value).dtype, np.number) else repr(value)
