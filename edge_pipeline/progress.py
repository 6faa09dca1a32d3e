"""Progress on stderr, so stdout stays clean for the bundle path and machine output.

Two shapes of output, picked once per process:

- ``bar``: a terminal (stderr is a TTY, not CI): counted work (epochs, calibration batches,
  benchmark runs) is a live bar with elapsed time and ETA, drawn by ``rich`` where it is installed
  (it comes with NNCF, whose own bars then look the same), else redrawn in place by hand:
  ``[  12.3s] distill    epoch 3/10 [####------] 30% loss 0.41 eta 21s``.
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
from typing import Any, TypeVar

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


_verbose = False


def set_verbose(verbose: bool) -> None:
    """Verbose: a line per step too (e.g. each step re-used from the cache), not only per stage."""
    global _verbose
    _verbose = verbose


def is_verbose() -> bool:
    return _verbose


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
    bars = _live_rich_bars
    if bars is not None and bars.showing and bars.stream is sys.stderr:
        bars.print_above(line)
        return
    _write(("\r\033[K" if _bar_open else "") + line + "\n")
    _bar_open = False


def _counted(mode: str, stage: str, message: str, done: int, total: int) -> None:
    global _bar_open
    fraction = min(max(done / total, 0.0), 1.0)
    bars = _rich_bars() if mode == "bar" else None
    if bars is not None:
        bars.update(stage, message, done, total)
        return
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


class RichBars:
    """Counted work drawn by ``rich``: one live line per stage with its bar, elapsed time and ETA; plain
    lines print above the live ones. When every bar has finished the display stops, leaving the final
    lines on screen, and the next counted work starts a fresh display."""

    def __init__(self, stream) -> None:
        from rich.console import Console

        self.stream = stream
        self.console = Console(file=stream, highlight=False, soft_wrap=False)
        self._progress: Any = None  # a rich.progress.Progress while bars are live
        self._tasks: dict[str, Any] = {}

    @property
    def showing(self) -> bool:
        return self._progress is not None

    def update(self, stage: str, message: str, done: int, total: int) -> None:
        progress_display = self._progress or self._start()
        task = self._tasks.get(stage)
        if task is None:
            task = progress_display.add_task(message, total=total, prefix=_prefix(stage))
            self._tasks[stage] = task
        progress_display.update(task, completed=min(done, total), total=total, description=message,
                                prefix=_prefix(stage))
        progress_display.refresh()
        if done >= total:
            del self._tasks[stage]
            if not self._tasks:
                progress_display.stop()
                self._progress = None

    def print_above(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)

    def _start(self):
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.fields[prefix]}"), BarColumn(bar_width=BAR_WIDTH), TaskProgressColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"),
            # Drawn when the work reports (callers already throttle), not by a timer thread; and
            # stderr left alone: rich would otherwise swap sys.stderr for a proxy while bars are live.
            console=self.console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False,
        )
        self._progress.start()
        return self._progress


_live_rich_bars: RichBars | None = None


def _rich_bars() -> RichBars | None:
    """The rich display for the current stderr; None where rich is not installed (the device extra)."""
    global _live_rich_bars
    if _live_rich_bars is not None and _live_rich_bars.stream is sys.stderr:
        return _live_rich_bars
    try:
        import rich  # noqa: F401
    except ImportError:
        return None
    _live_rich_bars = RichBars(sys.stderr)
    return _live_rich_bars
