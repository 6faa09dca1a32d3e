"""One temp folder per process, so a killed run's temp files do not outlive it.

Every ``tempfile`` user in the process (quantizer scratch, benchmark jobs, layer dumps) and every
worker it starts writes under ``<system temp>/edge-pipeline-<pid>-*``, removed at exit. A SIGKILL or
an out-of-memory kill skips that; the next run removes every such folder whose pid is no longer
running. Here, below the engine, because the single-file benchmark claims it too (it imports nothing heavy).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

from edge_pipeline.artifacts.processes import pid_alive

TEMP_PREFIX = "edge-pipeline-"
_OWN_TEMP = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-")
_process_temp: Path | None = None
_base: Path | None = None  # the system temp dir before this module pointed tempfile at its folder


def claim_temp_root() -> Path:
    """This process's temp folder (made once), set as the default for tempfile and subprocesses."""
    global _process_temp, _base
    if _process_temp is not None and _process_temp.is_dir():
        return _process_temp
    _base = _base or Path(tempfile.gettempdir())
    sweep_dead_temp(_base)
    _process_temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=_base))
    atexit.register(shutil.rmtree, _process_temp, True)
    tempfile.tempdir = str(_process_temp)
    os.environ["TMPDIR"] = str(_process_temp)  # worker processes put theirs inside it too
    return _process_temp


def sweep_dead_temp(base: Path) -> list[Path]:
    """Remove ``edge-pipeline-<pid>-*`` folders in ``base`` whose process is gone."""
    removed = []
    for folder in base.glob(f"{TEMP_PREFIX}*"):
        match = _OWN_TEMP.match(folder.name)
        if match and folder.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
