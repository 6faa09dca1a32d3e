"""What `edge-pipeline cache info|clean` does: summarize and empty a stage cache.

Only a folder that is an edge_pipeline cache (``stages/CACHEDIR.TAG``, which every cache has written
since it opened) is ever cleaned, and inside it only names the cache itself makes: entry folders,
their locks and temp folders. Everything else stays. Names alone never make a folder a cache: a
user's folder whose ``stages/*/`` names merely look like hashes is refused. An entry a live run
holds (its key's lock while building, a shared lock on its entry.json while reading) is kept.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.artifacts.cache import (
    ENTRY_FILE,
    ENTRY_NAME,
    LEGACY_TEMP_NAME,
    LOCK_NAME,
    MARKER_FILE,
    TEMP_NAME,
    evict,
    read_entry,
    stage_folders,
    temp_is_stale,
)
from edge_pipeline.errors import ConfigError, OutputError

try:
    import fcntl
except ImportError:
    fcntl = None  # type: ignore[assignment]

STAGES = "stages"


@dataclass
class StageSummary:
    name: str
    entries: int = 0
    size_bytes: int = 0


@dataclass
class CacheInfo:
    root: Path
    exists: bool
    stages: list[StageSummary] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (stage/key, why)
    temps: list[tuple[str, bool]] = field(default_factory=list)  # (stage/name, stale)


@dataclass
class CleanResult:
    entries: int = 0
    size_bytes: int = 0
    temps: int = 0
    busy: list[tuple[str, str]] = field(default_factory=list)  # (stage/key, what the run does): kept


def cache_info(root: Path, verify: bool = False) -> CacheInfo:
    """Entries and bytes per stage, entries that fail their check (sizes; ``verify``: sha256 too)
    and temp folders, stale or in progress."""
    stages_dir = Path(root) / STAGES
    info = CacheInfo(Path(root), stages_dir.is_dir())
    for folder in stage_folders(stages_dir):
        summary = StageSummary(folder.name)
        for path in sorted(folder.iterdir()):
            name = f"{folder.name}/{path.name}"
            if ENTRY_NAME.match(path.name) and path.is_dir():
                summary.entries += 1
                summary.size_bytes += tree_size(path)
                _, problem = read_entry(path, hashes=verify)
                if problem is not None:
                    info.corrupt.append((name, problem))
            elif _is_temp(path.name):
                info.temps.append((name, temp_is_stale(path)))
        info.stages.append(summary)
    return info


def clean_cache(root: Path, stage: str | None = None, older_than_days: float | None = None) -> CleanResult:
    """Remove the entries of every stage (or ``stage``), all or those unused for ``older_than_days``,
    their locks and the temp folders killed runs left. Refuses a folder that is not a cache."""
    if older_than_days is not None and older_than_days < 0:
        raise ConfigError(f"--older-than {older_than_days} is negative; pass a number of days >= 0")
    stages_dir = Path(root) / STAGES
    result = CleanResult()
    if not Path(root).exists():
        return result  # nothing was ever cached there
    check_is_cache(Path(root))
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    for folder in stage_folders(stages_dir):
        if stage is None or folder.name == stage:
            _clean_stage(folder, cutoff, result)
    return result


def check_is_cache(root: Path) -> None:
    """The marker alone says a folder is ours (a cache without it gets one from its next run)."""
    if (root / STAGES / MARKER_FILE).is_file():
        return
    raise OutputError(f"--cache-dir {root} does not look like an edge_pipeline cache (no {STAGES}/{MARKER_FILE}); "
                      "nothing was removed; pass the folder given to `edge-pipeline run --cache-dir` (a cache "
                      "without the marker gets it from its next run)")


def _is_temp(name: str) -> bool:
    return bool(TEMP_NAME.match(name) or LEGACY_TEMP_NAME.match(name))


def _clean_stage(folder: Path, cutoff: float | None, result: CleanResult) -> None:
    for path in sorted(folder.iterdir()):
        if ENTRY_NAME.match(path.name) and path.is_dir():
            if cutoff is None or _last_used(path) < cutoff:
                _remove_entry(path, result)
        elif _is_temp(path.name) and path.is_dir() and temp_is_stale(path):
            shutil.rmtree(path, ignore_errors=True)
            result.temps += 1
        elif LOCK_NAME.match(path.name) and not (folder / path.name.removesuffix(".lock")).exists():
            _remove_lock(path)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only if nothing is left in it


def _remove_entry(entry: Path, result: CleanResult) -> None:
    """Evict an entry unless a run is building it (it holds the key's lock) or reading it (it holds a
    shared lock on entry.json), both taken here without waiting."""
    lock = entry.with_name(f"{entry.name}.lock")
    name = f"{entry.parent.name}/{entry.name}"
    with _try_lock(lock) as free:
        if not free:
            result.busy.append((name, "a run is building it"))
            return
        with _try_lock(entry / ENTRY_FILE, create=False) as unread:
            if not unread:
                result.busy.append((name, "a run is using it"))
                return
            size = tree_size(entry)
            evict(entry)
        result.entries += 1
        result.size_bytes += size
        lock.unlink(missing_ok=True)


def _remove_lock(lock: Path) -> None:
    with _try_lock(lock) as held:
        if held:
            lock.unlink(missing_ok=True)


@contextlib.contextmanager
def _try_lock(lock: Path, create: bool = True):
    """Yield whether ``lock`` is free (taken exclusively for the block); True when there is no such
    file. ``create=False``: opened for reading (a file of the entry, never written here)."""
    if fcntl is None or not lock.exists():
        yield True
        return
    try:
        handle = open(lock, "a" if create else "rb")
    except OSError:
        yield True  # gone meanwhile, or unreadable: nothing of a run's to wait for
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _last_used(entry: Path) -> float:
    """When a run last built or re-used the entry (a hit touches entry.json)."""
    for path in (entry / "entry.json", entry):
        with contextlib.suppress(OSError):
            return path.stat().st_mtime
    return 0.0


def tree_size(path: Path) -> int:
    total = 0
    for file in path.rglob("*"):
        with contextlib.suppress(OSError):
            if file.is_file():
                total += file.stat().st_size
    return total
