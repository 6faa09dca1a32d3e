"""ONNX -> OpenVINO model, and IR writing with the weight precision stated, never implied."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import openvino as ov

from edge_pipeline.errors import StageError

_SUMMARY_LINE = re.compile(r"^--\s*No conversion rule found for operations:\s*(.+)$", re.MULTILINE)


def convert_onnx(onnx_path: Path) -> ov.Model:
    """Convert with OpenVINO's ONNX frontend; an unsupported operator names itself and its nodes."""
    try:
        return ov.convert_model(str(onnx_path))
    except Exception as exc:
        raise StageError(_conversion_message(Path(onnx_path), str(exc))) from exc


def _conversion_message(onnx_path: Path, error: str) -> str:
    match = _SUMMARY_LINE.search(error)
    if match is None:
        first = next((line for line in error.splitlines() if line.strip()), "unknown error")
        return f"OpenVINO cannot convert {onnx_path.name}: {first}; check the ONNX with onnx.checker"
    operators = [op.strip() for op in match.group(1).split(",") if op.strip()]
    nodes = _nodes_using(onnx_path, operators)
    return (
        f"OpenVINO cannot convert {onnx_path.name}: no conversion rule for operator(s) {', '.join(operators)}"
        f" (nodes: {', '.join(nodes) or 'unknown'}); export the model with standard ONNX operators "
        "or drop the OpenVINO target from the recipe's targets"
    )


def _nodes_using(onnx_path: Path, operators: list[str]) -> list[str]:
    """ONNX node names whose '<domain>.<op_type>' (or bare op_type) OpenVINO reported as unconvertible."""
    try:
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - the names are a courtesy; the operator list already names the fix
        return []
    wanted = set(operators)
    found = [n.name or n.output[0] for n in graph.node if n.op_type in wanted or f"{n.domain}.{n.op_type}" in wanted]
    return found[:5]


def save_ir(model: ov.Model, xml_path: Path, compress_to_fp16: bool) -> Path:
    """Write ``model.xml`` + ``model.bin``; save_model compresses to FP16 unless told not to."""
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    canonical_names(model)
    ov.save_model(model, str(xml_path), compress_to_fp16=compress_to_fp16)
    return xml_path


# OpenVINO names the nodes it creates '<Type>_<n>' from a counter global to the process, so the same
# model converted after other work gets other names and another sha256 (a cold run and a warm one
# would disagree; a folded constant keeps its source op's prefix, 'Reshape_11641'). Such names are
# renumbered per prefix in graph order before saving.
_AUTO_NAME = re.compile(r"(?P<type>[A-Za-z][A-Za-z0-9]*)_\d+")


def canonical_names(model: ov.Model) -> None:
    counts: dict[str, int] = {}
    for op in model.get_ordered_ops():
        match = _AUTO_NAME.fullmatch(op.get_friendly_name())
        if match is None:  # a name the model brought (an ONNX node's) stays
            continue
        index = counts.get(match.group("type"), 0)
        counts[match.group("type")] = index + 1
        op.set_friendly_name(f"{match.group('type')}_{index}")
