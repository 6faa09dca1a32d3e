"""Whether a process still runs: what decides that a temp folder named with a pid was left by a
killed run (bundle siblings, cache partials, per-process temp folders) and may be swept."""

from __future__ import annotations

import os

_PID_MAX = 1 << 22  # Linux's ceiling: a larger number is no pid this tool could have written


def pid_alive(pid: int) -> bool:
    """True unless ``pid`` surely names no running process (unknowable cases count as alive, and a
    reused pid counts as running: its folder waits for a later sweep)."""
    if pid == os.getpid():
        return True
    if not 0 < pid < _PID_MAX:
        return True  # not a pid we could have written: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: another user's live process
    return True
