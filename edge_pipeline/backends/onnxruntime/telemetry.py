"""ONNX Runtime's usage telemetry stays off in a process that uses it through this package.

ONNX Runtime's Linux and macOS wheels (1.32 here) collect usage events for Microsoft (1DS, per ORT's
own description: a process event, then session, model and aggregated run events) and keep a device
id and an event cache under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``, from the moment the
module is imported (seen here). A build tool that promises to work offline has no business doing
either, nothing it writes belongs in the user's home, and a benchmark worker should not share its
CPU with an uploader. ``ORT_DISABLE_TELEMETRY=1``, read once when onnxruntime initialises, turns all
of it off: nothing is created, kept or sent. It is set here, before onnxruntime loads, unless the
user has set it.
"""

from __future__ import annotations

import os

TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"


def keep_telemetry_off() -> None:
    """Set ORT_DISABLE_TELEMETRY=1 unless the user chose a value (0 keeps ONNX Runtime's default).
    Too late in a process that imported onnxruntime already: the value is read once."""
    os.environ.setdefault(TELEMETRY_VARIABLE, "1")
