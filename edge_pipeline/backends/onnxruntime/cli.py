"""The flags ONNX Runtime adds to `edge-pipeline benchmark` (argparse only: no onnxruntime import)."""

from __future__ import annotations

import argparse


def provider_names(text: str) -> list[str]:
    """'cuda,cpu' -> ORT's provider names; an unknown name is a usage error naming the known ones."""
    from edge_pipeline.backends.onnxruntime.providers import parse_providers
    from edge_pipeline.errors import ConfigError

    try:
        return parse_providers(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edge_pipeline.backends.onnxruntime.providers import PROVIDERS

    group = parser.add_argument_group("ONNX Runtime")
    group.add_argument(
        "--provider", dest="providers", type=provider_names, action="extend", default=None, metavar="NAME",
        help=f"execution providers to time .onnx/.ort files on, in priority order (repeat or comma list): "
             f"{', '.join(PROVIDERS)} or ORT's own names; default cpu. One the installed onnxruntime lacks is an "
             "error naming what to install (onnxruntime-gpu for cuda/tensorrt)",
    )
