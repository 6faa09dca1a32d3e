"""Progress lines on stderr, so stdout stays clean for the bundle path and machine output."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def progress(stage: str, message: str) -> None:
    if _quiet:
        return
    elapsed = time.monotonic() - _START
    print(f"[{elapsed:7.1f}s] {stage:<10} {message}", file=sys.stderr, flush=True)
