"""Where each backend's INT8 departs from FP32, layer by layer: every INT8 artifact's per-layer
SQNR to the FP32 ONNX (recorded by the quantize stage, read from each runtime's own intermediate
tensors), side by side per model, the layers that diverge most first."""

from __future__ import annotations

from edge_pipeline.artifacts.record import Artifact
from edge_pipeline.reports.tables import markdown_table

SHOWN_LAYERS = 12


def divergence_section(artifacts: list[Artifact]) -> list[dict]:
    """Per model: the artifacts compared and the layers where the worst of them is furthest from FP32."""
    by_model: dict[str, list[Artifact]] = {}
    for artifact in artifacts:
        if artifact.precision == "int8" and artifact.meta.get("divergence"):
            by_model.setdefault(artifact.model, []).append(artifact)
    section = []
    for model, found in by_model.items():
        columns = [a.id for a in found]
        table: dict[str, dict] = {}
        for artifact in found:
            for layer in artifact.meta["divergence"]:
                row = table.setdefault(layer["node"],
                                       {"node": layer["node"], "op_type": layer["op_type"], "sqnr_db": {}})
                row["sqnr_db"][artifact.id] = layer["sqnr_db"]
        ranked = sorted(table.values(), key=lambda row: _worst(row["sqnr_db"].values()))
        section.append({"model": model, "artifacts": columns, "layers": ranked[:SHOWN_LAYERS],
                        "layers_compared": len(table)})
    return section


def _worst(values) -> float:
    finite = [v for v in values if v is not None]
    return min(finite) if finite else float("inf")


def divergence_table(group: dict) -> tuple[list[str], list[list[str]]]:
    """One model's layers x INT8 artifacts, SQNR dB to FP32 ('–': exact)."""
    headers = ["layer", "op", *(artifact_id.split("/", 1)[-1] for artifact_id in group["artifacts"])]
    rows = [[row["node"], row["op_type"], *(_cell(row["sqnr_db"].get(a)) for a in group["artifacts"])]
            for row in group["layers"]]
    return headers, rows


def render_divergence_markdown(section: list[dict]) -> list[str]:
    lines: list[str] = []
    for group in section:
        lines += ["", f"## Where INT8 departs from FP32, per layer: {group['model']}", "",
                  f"SQNR dB of each layer's output to FP32 (higher is closer; – exact), as each runtime computes it "
                  "(read where the runtime exposes the tensor: OpenVINO after the FakeQuantize NNCF put on it); "
                  f"the {len(group['layers'])} most divergent of {group['layers_compared']} layers.", ""]
        lines += markdown_table(*divergence_table(group))
    return lines


def _cell(value) -> str:
    return "–" if value is None else f"{value:.1f}"
