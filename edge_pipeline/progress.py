"""Progress on stderr, so stdout stays clean for the bundle path and machine output.

Two shapes of output, picked once per process:

- ``bar``: a terminal (stderr is a TTY, not CI): counted work (epochs, calibration batches,
  benchmark runs) redraws one line in place: ``[  12.3s] distill    epoch 3/10 [####------] 30% loss 0.41 eta 21s``.
- ``lines``: CI logs and pipes: the same information as plain lines, throttled to about one line per
  tenth of the work, so a log stays readable.

``EDGE_PIPELINE_PROGRESS=bar|lines|off`` overrides the choice; under torchrun only rank 0 speaks.

    progress("export", "teacher: running")                         # a plain line
    progress("distill", f"epoch {e}/{n} loss {l:.3f}", done=e, total=n)   # one step of counted work
    for batch in track(batches, "calibrate", "batches"): ...        # wraps an iterable
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

_START = time.monotonic()
_quiet = False
_bar_open = False  # a bar line is on screen and must be cleared before a plain line is printed
_last_line_fraction: dict[str, float] = {}

BAR_WIDTH = 24
REDRAW_INTERVAL_S = 0.1
MODES = ("bar", "lines", "off")

T = TypeVar("T")


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def output_mode() -> str:
    forced = os.environ.get("EDGE_PIPELINE_PROGRESS", "").strip().lower()
    if forced in MODES:
        return forced
    if _quiet or os.environ.get("RANK", "0") != "0":
        return "off"
    stream_is_terminal = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if stream_is_terminal and not os.environ.get("CI") and os.environ.get("TERM") != "dumb":
        return "bar"
    return "lines"


def _prefix(stage: str) -> str:
    return f"[{time.monotonic() - _START:7.1f}s] {stage:<10}"


def _write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def progress(stage: str, message: str, *, done: int | None = None, total: int | None = None) -> None:
    """One progress report. With ``done``/``total`` it is a step of counted work (a bar in a terminal)."""
    mode = output_mode()
    if mode == "off":
        return
    if done is not None and total:
        _counted(mode, stage, message, done, total)
        return
    _plain_line(f"{_prefix(stage)} {message}")


def _plain_line(line: str) -> None:
    global _bar_open
    _write(("\r\033[K" if _bar_open else "") + line + "\n")
    _bar_open = False


def _counted(mode: str, stage: str, message: str, done: int, total: int) -> None:
    global _bar_open
    fraction = min(max(done / total, 0.0), 1.0)
    if mode == "bar":
        filled = round(BAR_WIDTH * fraction)
        bar = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%}"
        width = shutil.get_terminal_size((120, 20)).columns
        _write("\r\033[K" + f"{_prefix(stage)} {bar} {message}"[: width - 1] + ("\n" if done >= total else ""))
        _bar_open = done < total
        return
    key = stage
    last = _last_line_fraction.get(key, -1.0)
    # A line per ~10% of the work (and always the first and last step), so CI logs stay short.
    if done >= total or done <= 1 or fraction - last >= 0.1 or total <= 10:
        _plain_line(f"{_prefix(stage)} {message} ({fraction:.0%})")
        _last_line_fraction[key] = fraction if done < total else -1.0


class ProgressBar:
    """Counted work reported as it happens: ``with ProgressBar("calibrate", "batches", 40) as bar: bar.advance()``."""

    def __init__(self, stage: str, label: str, total: int) -> None:
        self.stage, self.label, self.total = stage, label, max(int(total), 0)
        self.done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def advance(self, steps: int = 1, info: str = "") -> None:
        self.done = min(self.done + steps, self.total) if self.total else self.done + steps
        now = time.monotonic()
        # Redraw at most ten times a second: fast loops must not spend their time printing.
        if self.done < self.total and now - self._last_draw < REDRAW_INTERVAL_S and self.done > 1:
            return
        self._last_draw = now
        self._report(info)

    def close(self) -> None:
        if self.total and self.done < self.total:
            # Stopped early (an error or a time budget): end the line honestly, not at 100%.
            progress(self.stage, f"{self.label} stopped at {self.done}/{self.total}")

    def _report(self, info: str) -> None:
        if not self.total:
            progress(self.stage, f"{self.label} {self.done} {info}".rstrip())
            return
        elapsed = time.monotonic() - self._started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        timing = f"eta {eta:.0f}s" if self.done < self.total else f"done in {elapsed:.1f}s"
        message = " ".join(part for part in (f"{self.label} {self.done}/{self.total}", info, timing) if part)
        progress(self.stage, message, done=self.done, total=self.total)


def track(items: Iterable[T], stage: str, label: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` while reporting progress; ``total`` defaults to ``len(items)`` when it has one."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with ProgressBar(stage, label, total or 0) as bar:
        for item in items:
            yield item
            bar.advance()
