"""ExecuTorch's runtime extension, loaded on its own.

The public ``executorch.runtime`` wraps the same extension but imports the whole exporter on the
way (``executorch.exir``, torchao: about 9 s per process here, and packages a device never needs);
the extension itself needs only libtorch, which importing torch loads first. Every process that
times a ``.pte`` pays this import, so the runner binds the extension directly.
"""

from __future__ import annotations

import importlib

import torch  # noqa: F401 - loads libtorch, which the extension links against

# Imported by name after torch (an import sorter would otherwise move it first).
extension = importlib.import_module("executorch.extension.pybindings._C")

__all__ = ["extension", "load_method", "set_threads"]


def load_method(path: str, name: str = "forward"):
    """The program at ``path`` loaded with full verification, and its method ``name``."""
    program = extension._load_program(path, program_verification=extension.Verification.InternalConsistency)
    return program, program.load_method(name)


def set_threads(threads: int) -> int:
    """The process-wide threadpool XNNPACK runs on, resized to ``threads``; the size it reports back.
    This is the only thread setting the runtime offers (portable kernels run on the calling thread)."""
    if extension._threadpool_get_thread_count() != threads:
        extension._unsafe_reset_threadpool(threads)
    return int(extension._threadpool_get_thread_count())
