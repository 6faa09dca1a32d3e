"""Per-layer profiles (`benchmark --profile`): a runtime's layer times summarised as the top layers.

numpy-free and runtime-free: the worker summarises on the device, the CLI renders the summary.
"""

from __future__ import annotations

DEFAULT_TOP = 10
PROFILE_WARMUP = 3  # unprofiled runs first: the first inference allocates and picks kernels
PROFILE_RUNS = 50  # at most (fewer when --iterations is lower): ORT's trace grows with every run


def summarize(profile, top: int) -> dict:
    """A backend's ``LayerProfile`` as the result's ``profile`` entry: the ``top`` layers by time with
    each one's share of all layer time (the shares of every layer sum to 100)."""
    total = sum(layer.total_ms for layer in profile.layers)
    ranked = sorted(profile.layers, key=lambda layer: layer.total_ms, reverse=True)
    runs = max(profile.runs, 1)
    shown = [_layer_entry(layer, runs, total) for layer in ranked[:top]]
    return {
        "runs": profile.runs,
        "layer_count": len(ranked),
        "layers_ms_per_run": round(total / runs, 6),
        "layers": shown,
        "other_percent": round(max(100.0 - sum(entry["percent"] for entry in shown), 0.0), 3),
        "op_types": _op_type_shares(profile.layers, runs, total),
        "trace": profile.trace,
    }


def _op_type_shares(layers, runs: int, total: float) -> list[dict]:
    """All layer time by (op type, kernel, precision), largest first: whether the time sits in the
    compute kernels (nothing left to fuse) or in what runs between them (casts, reorders, Q/DQ)."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    for layer in layers:
        groups.setdefault((layer.op_type, layer.kernel, layer.precision), []).append(layer.total_ms)
    ranked = sorted(groups.items(), key=lambda item: sum(item[1]), reverse=True)
    return [{"op_type": op_type, "kernel": kernel, "precision": precision, "layers": len(times),
             "ms_per_run": round(sum(times) / runs, 6),
             "percent": round(100.0 * sum(times) / total, 3) if total > 0 else 0.0}
            for (op_type, kernel, precision), times in ranked]


def _layer_entry(layer, runs: int, total: float) -> dict:
    return {
        "name": layer.name,
        "op_type": layer.op_type,
        "kernel": layer.kernel,
        "precision": layer.precision,
        "total_ms": round(layer.total_ms, 6),
        "ms_per_run": round(layer.total_ms / runs, 6),
        "percent": round(100.0 * layer.total_ms / total, 3) if total > 0 else 0.0,
    }


def render(profile: dict, indent: str = "    ") -> list[str]:
    """The summary as a short table, one line per layer, for the terminal."""
    if "skipped" in profile:
        return [f"{indent}profile skipped: {profile['skipped']}"]
    lines = [f"{indent}top {len(profile['layers'])} of {profile['layer_count']} layers over {profile['runs']} runs "
             f"({profile['layers_ms_per_run']:.3f} ms/run in layers)",
             f"{indent}{'%':>6}  {'ms/run':>9}  {'op type':<18} {'kernel':<24} name"]
    for layer in profile["layers"]:
        kernel = " ".join(part for part in (layer["kernel"], layer["precision"]) if part)
        lines.append(f"{indent}{layer['percent']:6.1f}  {layer['ms_per_run']:9.4f}  {layer['op_type']:<18.18} "
                     f"{kernel:<24.24} {layer['name']}")
    if profile["other_percent"] >= 0.05:
        lines.append(f"{indent}{profile['other_percent']:6.1f}  {'':>9}  (the other layers)")
    if profile.get("op_types"):
        shares = ", ".join(" ".join(part for part in (group["op_type"], group["kernel"], group["precision"]) if part)
                           + f" {group['percent']:.1f}% ({group['layers']})" for group in profile["op_types"][:6])
        lines.append(f"{indent}by op type (layers): {shares}")
    if profile.get("trace"):
        lines.append(f"{indent}trace: {profile['trace']}")
    return lines
