"""Users' functions (the recipe's metric, data providers) called behind a fence.

Whatever the function does, the caller gets its return value or one line naming the function, the
file and the line it stopped at: an exception, ``sys.exit()`` and running past the time limit all
become errors; only Ctrl-C (KeyboardInterrupt) passes through as itself.

Why a worker thread and not a subprocess: a metric is called once per artifact and per fallback
trial, each call on the arrays of a whole eval set. A subprocess would re-import the user's module
(and its torch or onnxruntime) on every call, or fork a process whose runtime threads are already
running (unsafe), and would pickle every output array across; a thread costs nothing and runs the
function exactly as an unfenced call would. Its cost: a thread cannot be killed. A function past
its limit keeps running, so the timeout error is ``UserCodeTimeoutError``, which ends the whole run (a
later target's timings would otherwise share the CPU with it); the thread is a daemon, so the
process exits once the error is reported.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from edge_pipeline.errors import DataError, UserCodeTimeoutError


def call_fenced(function: Callable[[], Any], *, what: str, timeout_s: float, setting: str,
                user: Callable | None = None) -> Any:
    """``function()`` in a daemon thread, given up after ``timeout_s`` seconds.

    ``what`` names the function in errors (``metric 'hook.py:score'``); ``setting`` is the recipe
    key holding the limit; ``user`` is the user's own callable (default ``function``): its file is
    the one whose last line the error names.
    """
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - SystemExit and the rest are reported, not raised here
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"edge-pipeline {what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    user_file = _source_file(user or function)
    if worker.is_alive():
        frame = sys._current_frames().get(worker.ident or -1)
        raise UserCodeTimeoutError(
            f"{what} did not return within {timeout_s:g} s ({setting}){_where_frame(frame, user_file)}; make "
            f"it faster or raise {setting}. It cannot be stopped, so the run ends here")
    if "error" not in outcome:
        return outcome["value"]
    exc = outcome["error"]
    if isinstance(exc, KeyboardInterrupt):
        raise exc
    where = _where_traceback(exc.__traceback__, user_file)
    if isinstance(exc, SystemExit):
        raise DataError(f"{what} called sys.exit({exc.code!r}){where}; return a value or raise an exception "
                        "instead of ending the process") from exc
    text = str(exc).strip().splitlines()
    raise DataError(f"{what} raised {exc.__class__.__name__}{': ' + text[0] if text else ''}{where}") from exc


def _source_file(function: Callable) -> str | None:
    """The file the user's function is defined in (through functools.partial and decorators)."""
    import inspect

    target = inspect.unwrap(getattr(function, "func", function))
    code = getattr(target, "__code__", None) or getattr(type(target).__call__, "__code__", None)
    if code is not None:
        return code.co_filename
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    return getattr(module, "__file__", None)


def _where_traceback(tb: TracebackType | None, user_file: str | None) -> str:
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(tb)]
    return _where(frames, user_file)


def _where_frame(frame: FrameType | None, user_file: str | None) -> str:
    frames = [(f.filename, f.lineno) for f in traceback.extract_stack(frame)] if frame is not None else []
    return _where(frames, user_file)


def _where(frames: list[tuple[str, int | None]], user_file: str | None) -> str:
    """' at FILE line N': the innermost frame in the user's file (else the innermost outside this module)."""
    wanted = os.path.realpath(user_file) if user_file else None
    own = [f for f in frames if wanted is not None and os.path.realpath(f[0]) == wanted]
    chosen = own[-1] if own else next((f for f in reversed(frames) if f[0] != __file__), None)
    if chosen is None:
        return ""
    return f" at {_shown(chosen[0])} line {chosen[1]}"


def _shown(filename: str) -> str:
    """The file relative to the current folder where it lies below it, else as the traceback has it."""
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return filename
