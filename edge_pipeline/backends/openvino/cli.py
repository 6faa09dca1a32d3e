"""The flags OpenVINO adds to `edge-pipeline benchmark` (argparse only: no openvino import)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edge_pipeline.config.arguments import int_list

    group = parser.add_argument_group("OpenVINO")
    group.add_argument("--streams", type=int_list, default=None, help="OpenVINO CPU streams to sweep, e.g. 1,2")

