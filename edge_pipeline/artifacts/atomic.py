"""Writes that either complete or leave nothing: a temp sibling, then os.replace.

Temp siblings are named ``.<name>.<pid>.<random>.partial`` (and ``.<name>.old-<pid>`` while a folder
is swapped), so the next writer of ``<name>`` can tell a killed run's leftovers (its pid is gone)
from a live writer's and remove only those (``clean_stale_siblings``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from edge_pipeline.artifacts.processes import pid_alive
from edge_pipeline.errors import OutputError

# errno values that mean "this location cannot take the output", not a bug or a bad input.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}

# Linux's pid_max ceiling; a larger number in a name is not a pid we wrote.


def _default_mode(directory: bool) -> int:
    # mkstemp/mkdtemp create private (0600/0700) entries; published files get the usual umask.
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def _temp_prefix(final: Path) -> str:
    return f".{final.name}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path next to ``final``; it becomes ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(final), suffix=".partial", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode(directory=False))
        os.replace(tmp, final)
    except OSError as exc:
        full = no_room_error(exc, str(final), "free space there or choose a writable folder", final.parent)
        if full is None:
            raise
        raise full from exc
    finally:
        tmp.unlink(missing_ok=True)


def no_room_error(exc: OSError, what: str, fix: str, inside: Path) -> OutputError | None:
    """The OutputError for a write refused for room or permission (None for any other OSError).

    ``what`` names the thing being written, in ``inside``; a file the error names outside it (a
    temp folder that filled first) is named instead, since freeing ``inside`` would not help."""
    if exc.errno not in OUTPUT_ERRNOS:
        return None
    where = Path(exc.filename) if exc.filename else None
    if where is not None and not _within(where, inside):
        return OutputError(f"cannot write {where}: {exc.strerror}; nothing was kept; free space there (a temp "
                           "folder: set TMPDIR to a folder with room)")
    return OutputError(f"cannot write {what}: {exc.strerror}; nothing was kept; {fix}")


def _within(path: Path, folder: Path) -> bool:
    try:
        return _absolute(path).is_relative_to(_absolute(folder))
    except (TypeError, ValueError):
        return False


def _absolute(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):  # a looping link: compared as written
        return Path(os.path.abspath(path))


def write_text(final: Path, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text)


def write_json(final: Path, data: object) -> None:
    write_text(final, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_strict_json(final: Path, data: object) -> None:
    """JSON every parser reads (report.json, manifest.json): a NaN or Infinity is a ValueError naming
    where it sits, since writing it would give CI a file its parser rejects. Producers write null
    and a reason instead (``OutputFidelity``'s ``sqnr_db``)."""
    try:
        text = json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{final.name}: {exc} at {_non_finite_path(data) or '?'}; "
                         "write null with a reason instead") from exc
    write_text(final, text + "\n")


def _non_finite_path(data: object, path: str = "$") -> str | None:
    if isinstance(data, float) and not math.isfinite(data):
        return path
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite_path(value, f"{path}[{key!r}]")
        if found:
            return found
    return None


@contextlib.contextmanager
def atomic_directory(final: Path, before_swap: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Build a directory under a temp name; swap it in for ``final`` only on success.

    ``before_swap(tmp)`` runs after the block and before the swap: the caller's last check of
    ``final`` and its last file (a marker); raising there leaves ``final`` as it was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_siblings(final)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final), suffix=".partial", dir=final.parent))
    try:
        yield tmp
        if before_swap is not None:
            before_swap(tmp)
        os.chmod(tmp, _default_mode(directory=True))
        replace_directory(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_directory(new: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_stale_siblings(final: Path) -> list[Path]:
    """Remove the temp siblings of ``final`` that a dead process left (a killed run); return them.

    Only names this module writes are touched, and only when their pid is not running: a live
    writer's temp stays. A ``.old-<pid>`` folder is the previous ``final`` of a swap killed half-way:
    it is put back when ``final`` is missing, else removed."""
    final = Path(final)
    partial = re.compile(rf"\.{re.escape(final.name)}\.(\d+)(\.[A-Za-z0-9_]+)?\.partial")
    old = re.compile(rf"\.{re.escape(final.name)}\.old-(\d+)")
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return []  # a missing or unreadable parent has nothing of ours to clean
    removed = []
    for sibling in siblings:
        match = partial.fullmatch(sibling.name) or old.fullmatch(sibling.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if match.re is old and not final.exists() and not final.is_symlink():
            os.replace(sibling, final)
            continue
        _remove(sibling)
        removed.append(sibling)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
