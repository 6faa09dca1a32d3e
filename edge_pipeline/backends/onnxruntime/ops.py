"""Ops ONNX Runtime cannot run, named before quantizing (and when a model fails to load).

Without this, a model with a custom-domain op (com.acme:MyOp) or an op newer than the installed
runtime fails deep in ORT's calibration with a traceback whose last line names a temp file.
"""

from __future__ import annotations

import re
from functools import lru_cache

_STANDARD = {"ai.onnx": ""}
# ORT's load errors: "com.acme:MyOp(-1) is not a registered function/op", "Could not find an
# implementation for Foo(13) node with name 'n'".
_UNREGISTERED = re.compile(r"(\S+?)\((-?\d+)\) is not a registered function/op")
_NO_KERNEL = re.compile(r"Could not find an implementation for (\S+?)\((\d+)\) node with name '([^']*)'")


@lru_cache(maxsize=1)
def _known_ops() -> frozenset[tuple[str, str]]:
    """(domain, op) pairs ORT has a CPU kernel or a schema for (a schema with a function body runs
    expanded, without a kernel of its own)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    kernels = {(k.domain, k.op_name) for k in state.get_all_opkernel_def() if k.provider == "CPUExecutionProvider"}
    schemas = {(s.domain, s.name) for s in state.get_all_operator_schema()}
    return frozenset(kernels | schemas)


def unknown_ops(model) -> list[str]:
    """'domain:op' (or 'op' for the standard domain) for each op in ``model`` ORT does not know;
    ops defined by the model's own functions count as known."""
    local = {(f.domain, f.name) for f in model.functions}
    known = _known_ops() | local
    found = set()
    for graph in _graphs(model.graph):
        for node in graph.node:
            domain = _STANDARD.get(node.domain, node.domain)
            if (domain, node.op_type) not in known:
                found.add(f"{domain}:{node.op_type}" if domain else node.op_type)
    return sorted(found)


def _graphs(graph):
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _graphs(sub)


def unsupported_op_message(source: str, ops: list[str]) -> str:
    them = "it" if len(ops) == 1 else "them"
    return (f"{source} uses {', '.join(ops)}, which ONNX Runtime {_version()} cannot run; replace {them} with "
            f"standard ONNX ops (or export without {them}), or use a target whose runtime has {them}")


def missing_op(error_text: str) -> str | None:
    """The op an ORT load error is about ('com.acme:MyOp', "Foo (node 'n')"), or None."""
    match = _UNREGISTERED.search(error_text)
    if match:
        return match.group(1)
    match = _NO_KERNEL.search(error_text)
    if match:
        return f"{match.group(1)} (opset {match.group(2)}, node '{match.group(3)}')"
    return None


def _version() -> str:
    import onnxruntime

    return onnxruntime.__version__
