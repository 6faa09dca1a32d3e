"""Runs a ``.pte`` with ExecuTorch's runtime extension (``_load_program``, ``load_method("forward")``:
what ``executorch.runtime.Runtime`` calls; see runtime.py for why it is bound directly).

Threads: the runtime offers one knob, the size of the process-wide threadpool that XNNPACK (and
the optimised CPU kernels) run on (``_unsafe_reset_threadpool``); it is set on load and read back
(``_threadpool_get_thread_count``) into ``runtime_info``. Portable kernels run on the calling
thread. Input and output names come from the ``.pte.json`` beside the program.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_pipeline.backends.base import InputInfo, Runner, RunnerOptions
from edge_pipeline.errors import ConfigError


def read_sidecar(path: Path) -> dict:
    sidecar = Path(str(path) + ".json")
    if not sidecar.is_file():
        raise ConfigError(f"{Path(path).name} cannot run without {sidecar.name} (its input and output names): "
                          f"{sidecar.name} must sit beside it")
    return json.loads(sidecar.read_text())


def as_tensor(value: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """``value`` as a contiguous tensor of ``dtype``, its rank kept: np.ascontiguousarray would turn a
    0-d input (a scalar sample rate, fed whole) into shape (1,), which the program refuses."""
    return torch.from_numpy(np.asarray(value, order="C")).to(dtype)


class ExecuTorchRunner(Runner):
    def __init__(self, path: Path, options: RunnerOptions):
        super().__init__(path, options)
        self._method: Any = None  # the runtime extension's method and program (untyped bindings)
        self._program: Any = None
        self._dtypes: dict[str, torch.dtype] = {}
        self._threads = 0
        self._delegate = ""

    def load(self) -> None:
        from edge_pipeline.backends.executorch.runtime import load_method, set_threads

        sidecar = read_sidecar(self.path)
        self._threads = set_threads(self.options.threads)
        self._program, self._method = load_method(str(self.path))
        self._inputs = [InputInfo(i["name"], tuple(i["shape"]), i["dtype"]) for i in sidecar["inputs"]]
        self._dtypes = {i["name"]: getattr(torch, i["dtype"]) for i in sidecar["inputs"]}
        self._outputs = list(sidecar["outputs"])
        self._delegate = sidecar.get("delegate", "")

    def close(self) -> None:
        self._method = self._program = None

    def _tensors(self, feed) -> list[torch.Tensor]:
        # (B, ...) arrays in the program's forward order, as the dtypes it was exported with
        return [as_tensor(feed[i.name], self._dtypes[i.name]) for i in self._inputs]

    def _infer(self, feed) -> list[np.ndarray]:
        outputs = self._method(self._tensors(feed))
        return [o.numpy() if isinstance(o, torch.Tensor) else np.asarray(o) for o in outputs]

    def prepare(self, feed):
        """Tensors made once: the timed call is the method's own call (it copies the inputs in; its
        separate set_inputs/execute pair read stale index memory on an int64 embedding here)."""
        self._check_feed(feed)
        tensors, method = self._tensors(feed), self._method
        return lambda: method(tensors)

    def runtime_info(self) -> dict:
        return {"threadpool_threads": self._threads, "delegate": self._delegate}
