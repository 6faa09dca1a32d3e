"""Calibration statistics for ORT's static INT8, collected once per quantize step.

The fidelity fallback quantizes one model many times (strategies, single-layer trials, the final
trim), and each attempt used to run the model over the calibration set again. Ranges depend only
on the prepared model, the calibration samples and the settings that shape them (method, bins,
percentile, symmetry, batching), never on which nodes are kept float, so they are memoised here
for the life of the process under exactly those inputs. Entries also carry the op types whose
tensors they cover: one collected for a wider scope (every op, or MatMul/Gemm/Conv) serves a
narrower one (MatMul only), as ORT's calibrator records each tensor independently of the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edge_pipeline.errors import StageError

_MEMO_LIMIT = 8  # entries (a method or scope each); each holds per-tensor ranges or histograms
_memo: dict[CalibrationKey, list[_Entry]] = {}
_passes = 0  # calibration passes run in this process: the fallback's re-use is tested with it


@dataclass(frozen=True)
class _Entry:
    op_types: frozenset[str] | None  # None: every op's tensors
    data: object  # onnxruntime.quantization.calibrate.TensorsData


@dataclass(frozen=True)
class CalibrationKey:
    """What the ranges are a function of (the prepared model by content, the samples by digest)."""

    model_sha256: str
    data_sha256: str
    samples: int
    batch_size: int
    method: str
    shaping: tuple  # method settings that change ranges: symmetric, num_bins, percentile

    @classmethod
    def of(cls, prepared: Path, calib, batch_size: int, config, symmetric: bool) -> CalibrationKey:
        histogram = config.method in ("entropy", "percentile")
        shaping = (symmetric, config.num_bins if histogram else None,
                   config.percentile if config.method == "percentile" else None)
        return cls(_file_sha256(prepared), calib.sha256, len(calib), batch_size, config.method, shaping)


def calibration_passes() -> int:
    """How many times this process has run a model over calibration data for ORT ranges."""
    return _passes


def memoised_ranges(key: CalibrationKey, model_path: Path, op_types: list[str] | None, collect,
                    cache_path: Path) -> tuple[dict[str, tuple[float, float]], bool]:
    """The ranges of ``op_types`` nodes' tensors written as the calibration cache at ``cache_path``,
    and whether they were re-used. ``collect()`` runs the calibration and returns ORT's TensorsData."""
    from onnxruntime.quantization.calibrate import save_tensors_data

    global _passes
    wanted = None if op_types is None else frozenset(op_types)
    entry = next((e for e in _memo.get(key, []) if _covers(e.op_types, wanted)), None)
    reused = entry is not None
    if entry is None:
        _passes += 1
        entry = _Entry(wanted, collect())
        _remember(key, entry)
    data = _scoped(entry.data, model_path, wanted) if entry.op_types != wanted else entry.data
    save_tensors_data(data, cache_path)
    return ranges_of(data), reused


def ranges_of(data) -> dict[str, tuple[float, float]]:
    import numpy as np

    return {name: (float(np.min(data[name].range_value[0])), float(np.max(data[name].range_value[1])))
            for name in data}


def _covers(have: frozenset[str] | None, wanted: frozenset[str] | None) -> bool:
    return have is None or (wanted is not None and wanted <= have)


def _scoped(data, model_path: Path, op_types: frozenset[str] | None):
    """``data`` cut to the tensors ORT's calibrator would pick for ``op_types`` (inputs and outputs of
    their nodes; the float type filter is already in ``data``)."""
    import onnx
    from onnxruntime.quantization.calibrate import TensorsData

    model = onnx.load(str(model_path), load_external_data=False)
    tensors = {t for node in model.graph.node if op_types is None or node.op_type in op_types
               for t in (*node.input, *node.output)}
    return TensorsData(data.calibration_method, {name: data.data[name] for name in data if name in tensors})


def _remember(key: CalibrationKey, entry: _Entry) -> None:
    if sum(len(entries) for entries in _memo.values()) >= _MEMO_LIMIT:
        oldest = next(iter(_memo))
        _memo[oldest].pop(0)
        if not _memo[oldest]:
            del _memo[oldest]
    _memo.setdefault(key, []).append(entry)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise StageError(f"cannot read the prepared model {path.name} to key its calibration: {exc}") from exc
    return digest.hexdigest()
