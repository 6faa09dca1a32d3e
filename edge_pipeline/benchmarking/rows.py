"""One benchmark result row: an (artifact, runtime variant, batch size, threads) measurement.

The benchmark stage makes these; report.json stores them as JSON (``model_dump(mode="json")``)
and every report, gate and comparison reads them back with ``BenchmarkRow.model_validate``.
Numbers that compare a row with its baseline are filled in by the report (``with_ratios``).
"""

from __future__ import annotations

import statistics

from pydantic import BaseModel, ConfigDict, Field

from edge_pipeline.benchmarking.fidelity import OutputFidelity


class LatencyStats(BaseModel):
    """Outlier-robust latency summary in milliseconds (benchmarking.timing.summarize)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    p50: float
    p90: float
    p99: float
    mean: float = 0.0
    std: float = 0.0
    min: float = 0.0
    max: float = 0.0
    median_ci95: tuple[float, float] = (0.0, 0.0)
    mad: float = 0.0
    iqr: float = 0.0
    trimmed_mean: float = 0.0
    outliers: int = 0
    n: int = 0


class BenchmarkRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    artifact_id: str
    artifact: str = Field(description="Artifact path: absolute during a run, bundle-relative in a bundle.")
    model: str
    backend: str
    precision: str
    runtime_variant: str
    target: str
    batch_size: int
    threads: int
    latency_ms: LatencyStats
    samples_ms: list[float] = Field(default_factory=list)
    round_p50_ms: list[float] = Field(default_factory=list, description="One median per fresh worker process.")
    latency_clock: str = Field(
        "call", description="What timed latency_ms: 'runtime', the runtime's own timer of each call, what its own "
        "benchmark tool reports (OpenVINO's request.latency); 'call', our clock around the call."
    )
    call_clock_p50_ms: float | None = Field(
        None, description="Our clock's p50 around the call, for 'runtime' rows (over rounds: their medians' median)."
    )
    throughput_per_s: float
    accuracy: float | None = None
    top1_agreement: float | None = None
    max_abs_diff: float | None = None
    fidelity: dict[str, OutputFidelity] = Field(
        default_factory=dict, description="Per output name, against the same model's FP32 reference row on the target."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, description="The recipe's task metric figures over data.eval (metric: module:function)."
    )
    size_bytes: int = 0
    params: int | None = None
    macs: int | None = None
    peak_memory_bytes: int = 0
    peak_rss_bytes: int = 0
    cold_start: dict | None = None
    runtime_versions: dict[str, str] = Field(default_factory=dict)
    runtime_info: dict = Field(default_factory=dict, description="What the runtime compiled, read back.")
    measured_on: str = Field("device", description="'device', or 'host' when this host lacks the target's ISA.")
    reference_variant: bool = Field(
        False, description="The backend's FP32 reference mode (its registry row's reference_variants)."
    )
    simulated: bool = Field(False, description="Timed in a stand-in runtime (TensorRT Q/DQ run in ONNX Runtime).")
    headline_eligible: bool = Field(
        True, description="May stand in headline figures and the Pareto front: False for host-timed or simulated rows."
    )
    # Where and when the timing was taken. A row re-used from the stage cache keeps its original
    # stamp, so a report can tell that it mixes machines or days (reports/measurement.py).
    measured_at: str | None = Field(None, description="UTC ISO time the row's last timing round finished.")
    measured_host: str | None = Field(None, description="'hostname (cpu model)' of the machine that timed it.")
    load_avg_start: list[float] | None = Field(
        None, description="1, 5 and 15 minute load averages just before the row's first timing round."
    )
    load_avg_end: list[float] | None = Field(
        None, description="1, 5 and 15 minute load averages just after the row's last timing round."
    )
    warnings: list[str] = Field(
        default_factory=list, description="Why this row's timing may not be trustworthy (load, spread)."
    )
    baseline_artifact_id: str | None = None
    speedup_vs_baseline: float | None = None
    size_ratio_vs_baseline: float | None = None
    accuracy_delta_vs_baseline: float | None = None


def clock_fields(config: dict) -> dict:
    """A worker config's latency_clock and call_clock_p50_ms (BenchmarkRow's fields of the same names).

    Pooled rounds keep our clock per round only (its samples are not kept), so a pooled row's
    call clock is the median of the rounds' medians.
    """
    if "call_clock_ms" in config:
        call_p50 = config["call_clock_ms"]["p50"]
    else:
        rounds = [r["call_clock_p50"] for r in config.get("rounds", []) if "call_clock_p50" in r]
        call_p50 = float(statistics.median(rounds)) if rounds else None
    return {"latency_clock": config.get("latency_clock", "call"), "call_clock_p50_ms": call_p50}
