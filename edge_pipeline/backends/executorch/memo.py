"""Lowered programs kept in memory for this process, keyed by everything that decides their bytes.

Lowering (to_edge_transform_and_lower: XNNPACK's passes over each partition, then memory planning)
is deterministic and costs seconds per program, and one run asks for the same program more than
once: latency-aware placement lowers the step's FP32 program again to time it, and the fidelity
fallback remakes its base INT8 artifact after the whole-model strategies cleared its folder. A
repeat is written from memory: the same ``.pte`` bytes, sidecar and meta (and, for INT8, the
converted program behind the per-layer view).
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_pipeline.artifacts.hashing import canonical_json, sha256_file
from edge_pipeline.backends.executorch.layers import Converted, remember

# Entries held per precision: FP32 for placement's re-lowering, however many INT8 attempts come
# between; INT8 for a fallback round's trials and its base (as many as layers.py keeps views of).
KEPT = {"fp32": 2, "int8": 8}
MAX_BYTES = 512 * 2**20  # .pte bytes held at most: a large model is lowered again rather than held


@dataclass(frozen=True)
class Lowered:
    pte: bytes
    sidecar: bytes
    meta: dict
    converted: Converted | None  # INT8: what the per-layer view runs


_MEMO: dict[str, OrderedDict[str, Lowered]] = {precision: OrderedDict() for precision in KEPT}


def key(precision: str, *parts: object, files: Iterable[Path] = (),
        arrays: Iterable[dict[str, np.ndarray]] = ()) -> str:
    """``precision`` and a digest of ``parts`` (JSON-able settings), the bytes of ``files`` and the
    named ``arrays``."""
    digest = hashlib.sha256(canonical_json(parts).encode())
    for path in files:
        digest.update(sha256_file(path).encode())
    for feed in arrays:
        for name, value in feed.items():
            value = np.ascontiguousarray(value)
            digest.update(f"{name}:{value.dtype}:{value.shape}".encode())
            digest.update(value.tobytes())
    return f"{precision}:{digest.hexdigest()}"


def lowered(entry: str, out: Path, lower: Callable[[], tuple[dict, Converted | None]]) -> dict:
    """The meta of ``out``: written from memory where this process lowered ``entry`` before, else made
    by ``lower`` (its meta and, for INT8, the converted program) and kept for a repeat."""
    meta = recall(entry, out)
    if meta is None:
        meta, converted = lower()
        keep(entry, out, meta, converted)
    return meta


def recall(entry: str, out: Path) -> dict | None:
    """The meta of the program lowered under ``entry``, its ``.pte`` and sidecar written to ``out``;
    None where this process has not lowered it (or no longer holds it)."""
    pool = _pool(entry)
    lowered = pool.get(entry)
    if lowered is None:
        return None
    pool.move_to_end(entry)
    out.write_bytes(lowered.pte)
    Path(str(out) + ".json").write_bytes(lowered.sidecar)
    if lowered.converted is not None:
        remember(out, lowered.converted)
    return copy.deepcopy(lowered.meta)


def keep(entry: str, out: Path, meta: dict, converted: Converted | None = None) -> None:
    """``out`` (just lowered) and its sidecar and meta, held for a repeat of ``entry``."""
    pte = out.read_bytes()
    if len(pte) > MAX_BYTES:
        return
    pool = _pool(entry)
    pool[entry] = Lowered(pte, Path(str(out) + ".json").read_bytes(), copy.deepcopy(meta), converted)
    while len(pool) > KEPT[entry.split(":")[0]]:
        pool.popitem(last=False)
    while _held(_MEMO.values()) > MAX_BYTES:
        max(_MEMO.values(), key=lambda held: _held([held])).popitem(last=False)


def _pool(entry: str) -> OrderedDict[str, Lowered]:
    return _MEMO[entry.split(":")[0]]


def _held(pools: Iterable[OrderedDict[str, Lowered]]) -> int:
    return sum(len(lowered.pte) for pool in pools for lowered in pool.values())
