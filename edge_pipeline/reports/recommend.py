"""Each target's recommended artifact: the fastest candidate that keeps fidelity, with the reason in words.

Candidates of a target are the product model's (the pipeline's last model) FP32 artifact in its
backend's reference mode, its quantized artifacts (full INT8, and the mixed INT8 latency-aware
placement made with its slower layers float; an INT8 with layers the fidelity fallback kept float
counts as mixed too), and the FP32 artifact in a bf16 runtime mode where the backend timed one. Each is held to
the quantize floor (quantize.min_cosine, per output where set) on its worst output's cosine to FP32;
the FP32 reference holds it trivially. They are compared by p50 at batch 1 with the target's first
benchmark thread count, from the rows the benchmark stage timed side by side in the same rounds.

Rows timed on this host for another device (Android, TensorRT) or in a stand-in runtime say nothing
about the device's speed: such a target's recommendation waits for device rows ('pending'), and
`benchmark --device ... --bundle` fills it in from them (``on_device``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from edge_pipeline.benchmarking.rows import BenchmarkRow
from edge_pipeline.config.base import StrictModel
from edge_pipeline.config.schema import BenchmarkConfig, QuantizeConfig
from edge_pipeline.reports.device_rows import DeviceRow

SECTION = "recommended"  # the report.json and manifest.json key
PENDING = "pending: device rows"


class RecommendPolicy(StrictModel):
    """What a target's choice follows; kept with it so that device rows can redo the choice later."""

    recommend: Literal["auto", "int8", "fp32"] = Field("auto", description="benchmark.recommend.")
    min_cosine: float | None = Field(None, description="quantize.min_cosine of the target.")
    min_cosine_per_output: dict[str, float] = Field(default_factory=dict, description="Per-output floors.")
    threads: int = Field(1, description="The target's default thread count (its first benchmark.threads).")

    def floor(self, output: str) -> float | None:
        return self.min_cosine_per_output.get(output, self.min_cosine)


def policy_for(benchmark: BenchmarkConfig, quantize: QuantizeConfig) -> RecommendPolicy:
    """A target's policy from its effective benchmark and quantize settings."""
    return RecommendPolicy(recommend=benchmark.recommend, min_cosine=quantize.min_cosine,
                           min_cosine_per_output=dict(quantize.min_cosine_per_output), threads=benchmark.threads[0])


@dataclass(frozen=True)
class Candidate:
    artifact_id: str
    runtime_variant: str
    precision: str
    label: str  # FP32, INT8, mixed INT8, bf16
    p50_ms: float
    worst: tuple[str, float] | None  # the output with the lowest cosine to FP32, and that cosine
    miss: str | None  # why it does not meet the floor; None: it does
    batch_size: int
    threads: int | None

    @property
    def is_fp32(self) -> bool:
        return self.label == "FP32"

    @property
    def is_int8(self) -> bool:
        return self.precision == "int8"

    @property
    def worst_cosine(self) -> float | None:
        return None if self.worst is None else self.worst[1]


def recommended_section(rows: list[BenchmarkRow], policies: Mapping[str, RecommendPolicy],
                        artifacts: Iterable[Mapping]) -> dict[str, dict]:
    """Per target with a policy: its recommendation (see ``recommend``); none at all for a run that
    timed nothing (no benchmark stage). ``artifacts``: manifest-style records (id, model, precision,
    meta), in pipeline order."""
    if not rows:
        return {}
    records = list(artifacts)
    return {target: recommend(target, [r for r in rows if r.target == target], policy, records)
            for target, policy in sorted(policies.items())}


def recommend(target: str, rows: list[BenchmarkRow], policy: RecommendPolicy, artifacts: list[Mapping]) -> dict:
    """One target's entry: status 'recommended', 'pending' (its rows were not timed on the device) or
    'none' (recommend: int8 and no INT8 candidate meets the floor), the artifact, the reason in
    words, its speedup over FP32 and its worst cosine."""
    model = product_model(rows, artifacts)
    own = [row for row in rows if row.model == model]
    config = _configuration(own, policy)
    chosen = [row for row in own if (row.batch_size, row.threads) == config and _is_candidate_row(row)]
    base = {"target": target, "model": model, "policy": policy.model_dump(mode="json")}
    if any(row.simulated or row.measured_on != "device" for row in chosen) or not chosen:
        where = sorted({"simulated" if row.simulated else "timed on this host" for row in chosen})
        return {**base, **_pending(f"{PENDING} (its rows were {' and '.join(where) or 'not timed here'}; "
                                   "`edge-pipeline benchmark --device NAME --bundle` fills this in)")}
    meta = _meta_by_id(artifacts)
    candidates = [_from_row(row, policy, meta) for row in chosen]
    return {**base, **decide(candidates, policy, meta, {"timed_on": "host", "batch_size": config[0],
                                                          "threads": config[1]})}


def on_device(entry: dict, host_rows: list[BenchmarkRow], device_rows: list[DeviceRow],
              artifacts: list[Mapping]) -> dict:
    """A pending entry decided from the device rows of its target's candidates (fidelity from the
    host rows or the quantize stage's check of the same files); unchanged where no device timed them."""
    policy = RecommendPolicy.model_validate(entry.get("policy") or {})
    target, model = entry["target"], entry.get("model")
    meta = _meta_by_id(artifacts)
    fidelity = {(r.artifact_id, r.runtime_variant): r.fidelity for r in host_rows if r.target == target}
    timed = [row for row in device_rows if row.target == target and row.latency_ms is not None and row.artifact_id
             and meta.get(row.artifact_id, {}).get("model", model) == model and not row.partial]
    for device in sorted({row.device for row in timed}):
        own = [row for row in timed if row.device == device]
        config = min((row.batch_size, row.threads or 0) for row in own)
        chosen = [row for row in own if (row.batch_size, row.threads or 0) == config]
        candidates = [_from_device_row(row, policy, meta, fidelity) for row in chosen]
        if any(c.is_fp32 for c in candidates):
            where = {"timed_on": device, "batch_size": config[0], "threads": config[1] or None}
            return {**entry, **decide(candidates, policy, meta, where)}
    return entry


def decide(candidates: list[Candidate], policy: RecommendPolicy, meta: Mapping[str, dict], timed: dict) -> dict:
    """The fastest candidate meeting the floor (of those ``policy.recommend`` allows), and why.
    ``timed``: where the candidates' rows were timed ('host', or a device's name), batch and threads."""
    fp32 = next((c for c in candidates if c.is_fp32), None)
    passing = [c for c in candidates if c.miss is None]
    allowed = {"auto": passing, "int8": [c for c in passing if c.is_int8],
               "fp32": [c for c in passing if c.is_fp32]}[policy.recommend]
    listed = {"candidates": [_candidate_record(c, fp32) for c in candidates], **timed}
    if not allowed:
        return {**_none(no_int8_line(candidates, policy)), **listed}
    best = min(allowed, key=lambda c: (c.p50_ms, not c.is_fp32))
    return {"status": "recommended", "artifact_id": best.artifact_id, "runtime_variant": best.runtime_variant,
            "precision": best.precision, "label": best.label, "reason": _reason(best, fp32, candidates, policy, meta),
            "speedup_vs_fp32": _speedup(best, fp32), "worst_cosine": best.worst_cosine, "p50_ms": best.p50_ms,
            **listed}


def no_int8_line(candidates: list[Candidate], policy: RecommendPolicy) -> str:
    """recommend: int8 without an INT8 candidate meeting the floor, as one line naming the best reached."""
    int8 = [c for c in candidates if c.is_int8]
    if not int8:
        return ("benchmark.recommend is int8, but this target has no timed INT8 artifact; add int8 to the "
                "target's precisions or set benchmark.recommend: auto")
    best = max(int8, key=lambda c: -math.inf if c.worst_cosine is None else c.worst_cosine)
    return (f"benchmark.recommend is int8, but no INT8 artifact meets the fidelity floor: the best, "
            f"{best.artifact_id}, {best.miss}; set benchmark.recommend: auto to ship the fastest artifact that "
            "keeps fidelity")


def product_model(rows: list[BenchmarkRow], artifacts: list[Mapping]) -> str:
    """The model the pipeline ends with: the last in pipeline order that has rows here (the pruned
    student after distill and prune; the recipe's own model otherwise)."""
    timed = [row.model for row in rows]
    ordered = [str(a.get("model")) for a in artifacts if a.get("model") in timed] or timed
    return ordered[-1] if ordered else ""


def _configuration(rows: list[BenchmarkRow], policy: RecommendPolicy) -> tuple[int, int]:
    """Batch 1 (else the smallest) at the target's default thread count (else the smallest timed)."""
    batch = 1 if any(r.batch_size == 1 for r in rows) else min((r.batch_size for r in rows), default=1)
    threads = [r.threads for r in rows if r.batch_size == batch]
    return batch, policy.threads if policy.threads in threads else min(threads, default=policy.threads)


def _is_candidate_row(row: BenchmarkRow) -> bool:
    # Other runtime modes of an FP32 file (an ORT-mobile preset, a TensorRT stand-in) are not things to ship.
    return row.precision != "fp32" or row.reference_variant or row.runtime_variant == "bf16"


def _meta_by_id(artifacts: Iterable[Mapping]) -> dict[str, dict]:
    return {str(a.get("id")): {"model": a.get("model"), **(a.get("meta") or {})} for a in artifacts if a.get("id")}


def _label(precision: str, variant: str, meta: Mapping) -> str:
    """FP32, bf16, INT8 (the full INT8 artifact, with any layer its fidelity search kept float: the
    reason names them) or mixed INT8 (latency-aware placement's artifact): one label per candidate."""
    if precision == "fp32":
        return "bf16" if variant == "bf16" else "FP32"
    if precision == "int8" and meta.get("placement"):
        return "mixed INT8"
    return precision.upper()


def _from_row(row: BenchmarkRow, policy: RecommendPolicy, meta: Mapping[str, dict]) -> Candidate:
    own = meta.get(row.artifact_id, {})
    fidelity = {name: f.cosine for name, f in row.fidelity.items()} or _checked(own)
    return _candidate(row.artifact_id, row.runtime_variant, row.precision, _label(row.precision, row.runtime_variant,
                      own), row.latency_ms.p50, fidelity, policy, row.batch_size, row.threads,
                      row.precision == "fp32" and row.reference_variant)


def _from_device_row(row: DeviceRow, policy: RecommendPolicy, meta: Mapping[str, dict],
                     host_fidelity: Mapping[tuple[str, str], dict]) -> Candidate:
    artifact_id, precision = str(row.artifact_id), row.precision or "fp32"
    own = meta.get(artifact_id, {})
    measured = host_fidelity.get((artifact_id, row.runtime_variant)) or next(
        (f for (a, _), f in host_fidelity.items() if a == artifact_id and f), {})
    fidelity = {name: f.cosine for name, f in measured.items()} or _checked(own)
    label = _label(precision, row.runtime_variant, own)
    latency = row.latency_ms.p50 if row.latency_ms is not None else math.inf
    return _candidate(artifact_id, row.runtime_variant, precision, label, latency, fidelity, policy,
                      row.batch_size, row.threads, label == "FP32")


def _checked(meta: Mapping) -> dict[str, float]:
    """The quantize stage's fidelity check of the file (rows without eval outputs carry none)."""
    return {name: float(f["cosine"]) for name, f in (meta.get("fidelity_check") or {}).items()}


def _candidate(artifact_id: str, variant: str, precision: str, label: str, p50: float, cosines: dict[str, float],
               policy: RecommendPolicy, batch: int, threads: int | None, reference: bool) -> Candidate:
    worst = min(cosines.items(), key=lambda item: item[1] if math.isfinite(item[1]) else -math.inf, default=None)
    miss = None if reference else _miss(cosines, policy, precision, variant)
    shown = None if worst is None or not math.isfinite(worst[1]) else worst
    return Candidate(artifact_id, variant, precision, label, p50, shown, miss, batch, threads)


def _miss(cosines: dict[str, float], policy: RecommendPolicy, precision: str, variant: str) -> str | None:
    if not cosines:
        # An INT8 file in the bundle met the floor in the quantize stage; a runtime mode was never checked.
        return None if precision != "fp32" else f"its {variant} mode has no fidelity figures to hold to the floor"
    for name, cosine in sorted(cosines.items(), key=lambda item: item[1] if math.isfinite(item[1]) else -math.inf):
        floor = policy.floor(name)
        if floor is not None and not cosine >= floor:
            return f"reaches cosine {cosine:.4f} on output '{name}', below the floor {floor:g}"
    return None


def _speedup(candidate: Candidate, fp32: Candidate | None) -> float | None:
    if fp32 is None or not candidate.p50_ms > 0 or not math.isfinite(candidate.p50_ms):
        return None
    return fp32.p50_ms / candidate.p50_ms


def _reason(best: Candidate, fp32: Candidate | None, candidates: list[Candidate], policy: RecommendPolicy,
            meta: Mapping[str, dict]) -> str:
    asked = f" (benchmark.recommend: {policy.recommend})" if policy.recommend != "auto" else ""
    if not best.is_fp32:
        speedup = _speedup(best, fp32)
        ratio = f"{speedup:.2f}x FP32" if speedup is not None else "no FP32 row to compare"
        cosine = f" at cosine {best.worst_cosine:.4f}" if best.worst_cosine is not None else ""
        own = meta.get(best.artifact_id, {})
        kept = [row["node"] for row in own.get("placement") or []] or list(own.get("float_nodes") or {})
        floats = f"; kept float: {', '.join(kept[:4])}{' ...' if len(kept) > 4 else ''}" if kept else ""
        return f"{best.label}: {ratio}{cosine}{floats}{asked}"
    others = [_why_not(c, best, meta) for c in candidates if c is not best and not c.is_fp32]
    return f"FP32{asked}: " + ("; ".join(others) if others else "no other candidate was timed")


def _why_not(other: Candidate, fp32: Candidate, meta: Mapping[str, dict]) -> str:
    if other.miss is not None:
        return f"{other.label} {other.miss}"
    speedup = _speedup(other, fp32)
    ratio = f"{other.label} {speedup:.2f}x here" if speedup is not None else f"{other.label} not comparable"
    kernels = (meta.get(other.artifact_id, {}).get("executed") or {}).get("kernels") or {}
    if kernels:
        ran = ", ".join(f"{name} ×{count}" for name, count in list(kernels.items())[:3])
        return f"{ratio}; its compute layers run on {ran} (from meta.executed)"
    return ratio


def _candidate_record(candidate: Candidate, fp32: Candidate | None) -> dict:
    return {"artifact_id": candidate.artifact_id, "runtime_variant": candidate.runtime_variant,
            "label": candidate.label, "p50_ms": candidate.p50_ms if math.isfinite(candidate.p50_ms) else None,
            "speedup_vs_fp32": _speedup(candidate, fp32), "worst_cosine": candidate.worst_cosine,
            "meets_floor": candidate.miss is None, "miss": candidate.miss}


def _pending(reason: str) -> dict:
    return {"status": "pending", "artifact_id": None, "runtime_variant": None, "reason": reason,
            "speedup_vs_fp32": None, "worst_cosine": None}


def _none(reason: str) -> dict:
    return {"status": "none", "artifact_id": None, "runtime_variant": None, "reason": reason,
            "speedup_vs_fp32": None, "worst_cosine": None}


def manifest_view(section: Mapping[str, dict]) -> dict[str, dict]:
    """The manifest's map: target -> the chosen artifact, its mode, the reason, speedup and worst cosine."""
    keys = ("status", "artifact_id", "runtime_variant", "reason", "speedup_vs_fp32", "worst_cosine")
    return {target: {key: entry.get(key) for key in keys} for target, entry in section.items()}


def recommended_row(rows: list[BenchmarkRow], entry: Mapping) -> BenchmarkRow | None:
    """The host row an entry chose (its batch and threads), or None where it chose none or a device row."""
    if entry.get("status") != "recommended" or entry.get("timed_on") != "host":
        return None
    return next((r for r in rows if r.target == entry.get("target") and r.artifact_id == entry["artifact_id"]
                 and r.runtime_variant == entry["runtime_variant"] and r.batch_size == entry.get("batch_size")
                 and r.threads == entry.get("threads")), None)


def with_device_rows(section: Mapping[str, dict], host_rows: list[BenchmarkRow], device_rows: list[DeviceRow],
                     artifacts: list[Mapping]) -> dict[str, dict]:
    """The section with each pending entry decided from the device rows that have arrived."""
    return {target: on_device(entry, host_rows, device_rows, artifacts) if entry.get("status") == "pending"
            else dict(entry) for target, entry in section.items()}
