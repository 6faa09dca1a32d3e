"""The benchmarker a device runs: one zipapp of the package's torch-free modules.

Its contents are computed, not listed: the modules ``device_main`` and the benchmark worker import,
followed transitively (function-local imports too, as the engine's code digest follows them), plus
each registered backend's module. A device needs only Python 3.10+, numpy and the runtime; nothing
of edge_pipeline is installed there, so the numbers come from the code on this host.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from edge_pipeline.engine.code import PACKAGE_ROOT, closure

# Runs before anything of the package: tells an old Python apart from a broken zipapp.
_MAIN = '''import sys
if sys.version_info < (3, 10):
    sys.stderr.write("error: Python %d.%d is too old for the benchmarker; it needs 3.10 or later\\n"
                     % sys.version_info[:2])
    raise SystemExit(64)
from edge_pipeline.remote.device_main import main
raise SystemExit(main(sys.argv[1:]))
'''
# A fixed time stamp: the same code gives the same bytes, whatever the files' mtimes.
_STAMP = (2020, 1, 1, 0, 0, 0)


def device_modules() -> dict[str, Path]:
    from edge_pipeline.backends.registry import BACKENDS

    roots = {"edge_pipeline.remote.device_main", "edge_pipeline.benchmarking.worker",
             *(row.backend.partition(":")[0] for row in BACKENDS.values())}
    while True:
        modules = closure(roots)
        # A module's packages must come along, or `import edge_pipeline.x.y` fails in the zip; they run
        # first there, and what they import comes too (a backend package's runtime set-up).
        packages = {".".join(name.split(".")[:depth]) for name in modules for depth in range(1, name.count(".") + 1)}
        if packages <= roots:
            return modules
        roots |= packages


def build_zipapp(out: Path) -> Path:
    """Write the benchmarker to ``out`` (run with ``python out ...``)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", _STAMP), _MAIN)
        for _, path in sorted(device_modules().items()):
            relative = Path("edge_pipeline") / path.relative_to(PACKAGE_ROOT)
            info = zipfile.ZipInfo(relative.as_posix(), _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return out
