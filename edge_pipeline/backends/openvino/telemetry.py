"""Intel's usage telemetry stays out of a process that uses this backend.

``import openvino`` loads ``openvino_telemetry``; ``convert_model`` and NNCF then send usage events to
Google Analytics (each event from a forked copy of the calling process, which here holds torch and
the models) and count runs in ``~/intel``, unless the user has opted out on that machine. A build
tool that promises to work offline has no business doing either, and nothing it writes belongs in
the user's home. Both libraries fall back to stubs of their own when the module cannot be imported,
so it is made unimportable here, before ``openvino`` loads.
"""

from __future__ import annotations

import os
import sys

TELEMETRY_MODULE = "openvino_telemetry"
# Set to 1 to leave Intel's telemetry as the machine's own opt-in settings have it.
ALLOW_VARIABLE = "EDGE_PIPELINE_OPENVINO_TELEMETRY"


def keep_telemetry_off() -> None:
    """Block ``openvino_telemetry`` for this process unless the user allows it.

    A process that imported it before (an application calling our API after its own OpenVINO
    work) keeps what it has: its telemetry objects already exist, and the choice was made there.
    """
    if os.environ.get(ALLOW_VARIABLE) != "1":
        sys.modules.setdefault(TELEMETRY_MODULE, None)  # type: ignore[arg-type]  # the documented import block
