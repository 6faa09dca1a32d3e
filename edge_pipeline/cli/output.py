"""Stdout carries a command's result and nothing else, so `bundle=$(edge-pipeline run)` captures
exactly the bundle path: while a command runs, everything else written to stdout — progress,
third-party libraries' prints and progress bars, C-level output of runtimes and worker processes
that inherit the descriptor — goes to stderr. Commands write their result with ``print_result``."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator

_result_writer: Callable[[str], None] | None = None


def print_result(*values: object, sep: str = " ", end: str = "\n") -> None:
    """Write part of the command's result to the real stdout (print's signature)."""
    text = sep.join(str(v) for v in values) + end
    if _result_writer is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _result_writer(text)


@contextlib.contextmanager
def results_only_on_stdout() -> Iterator[None]:
    global _result_writer
    original = sys.stdout
    original.flush()
    saved = _duplicate_stdout_descriptor(original)
    previous, _result_writer = _result_writer, _writer_for(original, saved)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = original
        _result_writer = previous
        if saved is not None:
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _duplicate_stdout_descriptor(stream) -> int | None:
    """Point descriptor 1 at stderr, returning a copy of the old one; None when stdout is not
    descriptor 1 (a test's capture object), where only the Python-level stream is swapped."""
    try:
        if stream.fileno() != 1:
            return None
        saved = os.dup(1)
        os.dup2(2, 1)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return saved


def _writer_for(stream, saved: int | None) -> Callable[[str], None]:
    if saved is None:
        def write_to_stream(text: str) -> None:
            stream.write(text)
            stream.flush()
        return write_to_stream
    return lambda text: _write_all(saved, text.encode())


def _write_all(descriptor: int, data: bytes) -> None:
    while data:
        data = data[os.write(descriptor, data):]
