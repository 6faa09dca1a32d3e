"""Several timing rounds of one artifact, each in a fresh worker process, pooled into one result.

A shared machine's load drifts over seconds, and each process draws its own memory layout (which
cache sets the weights land in) that then holds for all of its samples. The benchmark stage
therefore times every artifact once per round, round after round, so an FP32 baseline and the INT8
model compared with it see the same spread of load and of layouts; this module pools the rounds.
"""

from __future__ import annotations

from edge_pipeline.benchmarking.timing import summarize


def pool_rounds(results: list[dict]) -> dict:
    """One worker result from several of the same job: samples pooled, per-round medians kept.

    Load time, cold start, memory and logits are the first round's: it is the only round that
    also runs the accuracy pass, and cold start is a first-process property.
    """
    first = results[0]
    if len(results) == 1:
        return first
    configs = [_pool_config([result["configs"][i] for result in results]) for i in range(len(first["configs"]))]
    return {**first, "configs": configs}


def _pool_config(rounds: list[dict]) -> dict:
    first = rounds[0]
    if "skipped" in first:
        return first
    samples = [s for config in rounds for s in config["samples_ms"]]
    stats = summarize(samples)
    pooled = {key: value for key, value in first.items() if key != "call_clock_ms"}  # per round below
    return {
        **pooled,
        "latency_ms": stats,
        "samples_ms": samples,
        "throughput_per_s": first["batch_size"] * 1e3 / stats["p50"],
        "rounds": [_round_summary(config) for config in rounds],
    }


def _round_summary(config: dict) -> dict:
    summary = {"p50": config["latency_ms"]["p50"], "n": config["latency_ms"]["n"]}
    if "call_clock_ms" in config:  # our clock around the call, where the runtime's own timer is the p50
        summary["call_clock_p50"] = config["call_clock_ms"]["p50"]
    return summary
