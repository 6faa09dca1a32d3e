"""Where the tool may write, checked before any stage runs, and the marker of a folder it wrote.

Every output folder (a `run`/`export` bundle, a `quantize --out` folder) gets a marker file,
``.edge-pipeline-bundle`` (JSON: tool, version, kind, created_utc), written last, just before the
folder is swapped in. ``--out`` may name a new folder, an empty one, or a marked one (replaced
whole); anything else is refused with an ``OutputError`` and left exactly as it was:

- a non-empty folder without the marker (the user's files), a file, a filesystem root or mount point;
- the current folder or one holding it (replacing it would pull the folder out from under the shell);
- a folder holding the run's inputs (recipe, model, data, cache): replacing it would delete them.

The location must be writable (a temp file is created and removed: permission bits do not stop
root, a read-only mount does) and have room: ``MIN_FREE_BYTES`` (64 MiB), or ``SIZE_FACTOR`` (4) x
the size of the model files when that is more (a bundle holds the FP32 model, its INT8 variants and
the reports). A write that still fails for room or permission (ENOSPC, EROFS, EACCES, ...) becomes an
``OutputError`` naming the path; the temp folder is removed and the previous bundle stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from edge_pipeline import __version__
from edge_pipeline.artifacts.atomic import OUTPUT_ERRNOS, atomic_directory, clean_stale_siblings
from edge_pipeline.errors import OutputError

BUNDLE_MANIFEST_KIND = "edge_pipeline.bundle"  # manifest.json's kind in a run bundle
MARKER = ".edge-pipeline-bundle"
MIB = 1024 * 1024
MIN_FREE_BYTES = 64 * MIB  # an output folder: a conservative floor, most bundles are a few MiB
MIN_FREE_FILE_BYTES = 1 * MIB  # a result file (benchmark JSON/CSV)
SIZE_FACTOR = 4
NEW_FOLDER = "choose a new folder or an empty one"


def is_marked(folder: Path) -> bool:
    """True when ``folder`` holds a marker this tool wrote (a finished output folder of ours)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return _is_unmarked_bundle(Path(folder))
    return isinstance(data, dict) and data.get("tool") == "edge-pipeline"


def _is_unmarked_bundle(folder: Path) -> bool:
    """A bundle written before the marker existed: its manifest names its kind (so upgrading the tool
    does not make a user delete their last bundle by hand)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == BUNDLE_MANIFEST_KIND


def write_marker(folder: Path, kind: str) -> None:
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = json.dumps({"tool": "edge-pipeline", "version": __version__, "kind": kind, "created_utc": created})
    (Path(folder) / MARKER).write_text(text + "\n")


def check_output_folder(out: Path, inputs: Iterable[Path] = (), model_files: Iterable[Path] = (),
                        option: str = "--out") -> Path:
    """Refuse an output folder this tool may not replace or cannot write; return it resolved.

    Nothing of the user's is touched: only a probe file (created and removed) and temp siblings
    of ``out`` that a killed run of this tool left."""
    target = _resolved_output(out, option)
    _refuse_root(target, out, option)
    _refuse_holder(target, out, option, inputs)
    if target.exists():
        _refuse_foreign_folder(target, out, option)
    clean_stale_siblings(target)
    _check_room(target, out, option, _needed_bytes(model_files))
    return target


def check_output_file(out: Path, inputs: Iterable[Path] = (), option: str = "--out") -> Path:
    """Refuse a result file path that is a folder, a root or one of the inputs, or cannot be
    written; return it resolved. An existing file there is overwritten (as `-o FILE` does)."""
    target = _resolved_output(out, option)
    _refuse_root(target, out, option)
    if target.is_dir():
        raise OutputError(f"{option} {out} is a folder; name a file, e.g. {option} {Path(out) / 'results.json'}")
    if target in {_resolved_input(p) for p in inputs}:
        raise OutputError(f"{option} {out} is one of the inputs; name a new file for the results")
    clean_stale_siblings(target)
    _check_room(target, out, option, MIN_FREE_FILE_BYTES)
    return target


@contextlib.contextmanager
def output_folder(final: Path, kind: str, option: str = "--out") -> Iterator[Path]:
    """Build an output folder under a temp name and swap it in for ``final`` (marked) on success.

    ``final`` is checked again just before the swap (it may have changed during a long run)."""
    final = Path(final)

    def seal(tmp: Path) -> None:
        if final.exists() or final.is_symlink():
            _refuse_foreign_folder(final, final, option)
        write_marker(tmp, kind)

    with output_errors(final, option), atomic_directory(final, before_swap=seal) as tmp:
        yield tmp


@contextlib.contextmanager
def output_errors(final: Path, option: str = "--out") -> Iterator[None]:
    """A write refused for room or permission becomes an OutputError naming the path and the fix."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        where = exc.filename or final
        raise OutputError(f"cannot write {option} {final}: {exc.strerror} ({where}); nothing was replaced; free "
                          f"space or choose a writable location with {option}") from exc


def _resolved_output(out: Path, option: str) -> Path:
    try:
        return Path(out).resolve()
    except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError for a symlink loop
        raise OutputError(f"{option} {out} cannot be resolved ({exc}); remove the looping link or choose "
                          "another location") from exc


def _resolved_input(path: Path) -> Path:
    """An input's absolute path; one that loops is left unresolved (reading it fails, naming it, later)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def _refuse_root(target: Path, out: Path, option: str) -> None:
    if target.parent == target:
        raise OutputError(f"{option} {out} is a filesystem root; {NEW_FOLDER} below it, e.g. {option} "
                          f"{target / 'bundle'}")


def _refuse_holder(target: Path, out: Path, option: str, inputs: Iterable[Path]) -> None:
    """A folder that is, or holds, the current folder or an input would take them with it."""
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise OutputError(f"{option} {out} is the current folder or holds it; write to a new folder inside it "
                          f"instead, e.g. {option} {Path(out) / 'bundle'}")
    for path in inputs:
        held = _resolved_input(path)
        if target == held:
            raise OutputError(f"{option} {out} is the input {path}; {NEW_FOLDER}")
        if target in held.parents:
            raise OutputError(f"{option} {out} holds the input {path}; replacing it would delete that; {NEW_FOLDER}")


def _refuse_foreign_folder(target: Path, out: Path, option: str) -> None:
    """Only a new, empty or marked folder may be replaced; a file or mount point never."""
    if not target.is_dir():
        raise OutputError(f"{option} {out} is a file, not a folder; {NEW_FOLDER}")
    if os.path.ismount(target):
        raise OutputError(f"{option} {out} is a mount point; {NEW_FOLDER} inside it, e.g. {option} "
                          f"{Path(out) / 'bundle'}")
    try:
        empty = next(target.iterdir(), None) is None
    except OSError as exc:
        raise OutputError(f"{option} {out} cannot be read ({exc.strerror}); {NEW_FOLDER}") from exc
    if not empty and not is_marked(target):
        raise OutputError(f"{option} {out} is a folder edge-pipeline did not write (it has files and no {MARKER} "
                          f"marker), so it is left alone; {NEW_FOLDER}")


def _check_room(target: Path, out: Path, option: str, needed: int) -> None:
    """The nearest existing folder above ``target`` must take a file and have ``needed`` bytes free."""
    base = _existing_ancestor(target.parent, out, option)
    try:
        fd, probe = tempfile.mkstemp(prefix=".edge-pipeline-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{option} {out} is not writable: cannot create files in {base} ({exc.strerror}); "
                          f"choose a writable location") from exc
    free = shutil.disk_usage(base).free
    if free < needed:
        raise OutputError(f"{option} {out} has too little room: {free / MIB:.1f} MiB free in {base}, about "
                          f"{needed / MIB:.0f} MiB needed; free space or choose another location")


def _existing_ancestor(folder: Path, out: Path, option: str) -> Path:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{option} {out} cannot be created: {folder} is a file, not a folder; {NEW_FOLDER}")
    return folder


def _needed_bytes(model_files: Iterable[Path]) -> int:
    return max(MIN_FREE_BYTES, SIZE_FACTOR * sum(_size(Path(p)) for p in model_files))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():  # a folder-format model (an .mlpackage)
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0
