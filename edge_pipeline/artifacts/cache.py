"""Content-addressed stage cache.

An entry is a folder ``<root>/<stage>/<key>/`` holding the stage's files and ``entry.json``, which
lists every file with its size and sha256. The key is the sha256 of the stage's input hashes,
config and tool versions (``StageKey``).

Trust: every hit is checked against its file list (sizes, then hashes); an entry that fails is
moved aside and rebuilt, and the caller is told why (``obtain``'s ``on_evict``).

Concurrency: an entry is built under a temp name ``.<key>.<host>-<pid>.<random>.partial`` and
renamed into place, so a half-finished entry is never a hit. Runs that need the same key take
turns on ``<key>.lock`` (flock): the second waits, then re-uses the first's entry. A run that uses
an entry (a hit, or one it built) holds a shared flock on the entry's ``entry.json`` until it closes
the cache, so `cache clean` (which needs an exclusive one to evict) keeps entries a live run reads.
Publishing never removes an entry that verifies (another run may be reading it), so it stays safe
even where flock does not work. Temp folders whose process is gone (a killed run) are removed when
a cache opens. A disk that fills while an entry is written is an ``OutputError`` naming the cache.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from edge_pipeline.artifacts.atomic import no_room_error
from edge_pipeline.artifacts.hashing import sha256_file, sha256_json
from edge_pipeline.artifacts.processes import pid_alive
from edge_pipeline.config.locations import cache_root
from edge_pipeline.errors import OutputError
from edge_pipeline.progress import progress

try:
    import fcntl
except ImportError:  # not POSIX: runs do not wait for each other, publishing is still safe
    fcntl = None  # type: ignore[assignment]

ENTRY_FILE = "entry.json"
ENTRY_FORMAT = 2  # entry.json: {"format", "files": {name: {"size", "sha256"}}, "payload"}
KEY_CHARS = 32
# The Cache Directory Tagging Specification's tag (backup tools skip the folder); it also marks the
# folder as ours, so `cache clean` refuses any folder without it.
MARKER_FILE = "CACHEDIR.TAG"
MARKER_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
               "# This folder is an edge_pipeline stage cache; `edge-pipeline cache clean` empties it.\n")
# Names that live in a stage folder; nothing else there is ours.
ENTRY_NAME = re.compile(rf"^[0-9a-f]{{{KEY_CHARS}}}$")
LOCK_NAME = re.compile(rf"^[0-9a-f]{{{KEY_CHARS}}}\.lock$")
TEMP_NAME = re.compile(rf"^\.[0-9a-f]{{{KEY_CHARS}}}\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[A-Za-z0-9_]+"
                       r"\.(?:partial|trash)$")
# Temp folders of versions before the pid was in the name: stale once nothing could still be writing.
LEGACY_TEMP_NAME = re.compile(rf"^\.[0-9a-f]{{{KEY_CHARS}}}\.[a-z0-9_]+\.partial$")
LEGACY_TEMP_AGE_S = 24 * 3600
_PUBLISH_TRIES = 5


def host_tag() -> str:
    """This machine's name as it appears in temp names (one cache may be shared over NFS)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"


def owner_tag(pid: int | None = None) -> str:
    return f"{host_tag()}-{os.getpid() if pid is None else pid}"


@dataclass(frozen=True)
class StageKey:
    stage: str
    material: dict

    @property
    def digest(self) -> str:
        return sha256_json({"stage": self.stage, **self.material})


@dataclass
class CacheEntry:
    directory: Path
    payload: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Obtained:
    entry: CacheEntry
    cached: bool  # a hit (made by an earlier run, or by a concurrent one we waited for)


def cache_folder(cache_dir: Path | None = None) -> Path:
    """The cache folder: ``cache_dir`` (--cache-dir), else $EDGE_PIPELINE_CACHE, else the default;
    created if missing and checked writable, so a bad one fails before any work with one line."""
    root = Path(cache_dir).expanduser() if cache_dir else cache_root()
    named, fix = _origin(cache_dir, root)
    if root.exists() and not root.is_dir():
        raise OutputError(f"{named} is a file, not a folder; {fix}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):  # a nameless probe: nothing to leave behind
            pass
    except OSError as exc:
        raise OutputError(f"{named} is not a writable folder ({exc.strerror or exc}); {fix}") from exc
    return root


def _origin(cache_dir: Path | None, root: Path) -> tuple[str, str]:
    """Where the folder came from, as the user wrote it, and how to fix it there."""
    if cache_dir:
        return f"--cache-dir {root}", "pass --cache-dir a folder you can write to (it is created if missing)"
    if os.environ.get("EDGE_PIPELINE_CACHE"):
        return (f"EDGE_PIPELINE_CACHE={root}",
                "point EDGE_PIPELINE_CACHE at a writable folder or pass --cache-dir DIR")
    return f"the default cache folder {root}", "pass --cache-dir DIR or set EDGE_PIPELINE_CACHE to a writable folder"


class StageCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled  # False: every step rebuilds (and replaces its entry)
        self._held: dict[Path, BinaryIO] = {}  # entry folder -> its entry.json, open with a shared flock
        self._held_guard = threading.Lock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not (self.root / MARKER_FILE).is_file():
                (self.root / MARKER_FILE).write_text(MARKER_TEXT)
        except OSError as exc:
            raise OutputError(f"stage cache {self.root} is not writable ({exc.strerror or exc}); "
                              "pass --cache-dir a folder you can write to") from exc
        remove_stale_temps(self.root)

    def _entry_dir(self, key: StageKey) -> Path:
        return self.root / key.stage / key.digest[:KEY_CHARS]

    def inspect(self, key: StageKey) -> tuple[CacheEntry | None, str | None]:
        """(entry, None) for a hit that verifies; (None, why) for an entry that does not; (None, None)."""
        directory = self._entry_dir(key)
        if not self.enabled or not directory.exists():
            return None, None
        self._hold(directory)  # before verifying: `cache clean` cannot evict it between the check and the use
        payload, problem = read_entry(directory)
        if problem is not None:
            self._release(directory)
            return None, problem
        _touch(directory)
        return CacheEntry(directory, payload), None

    def _hold(self, directory: Path) -> None:
        """Hold a shared flock on ``directory``'s entry.json until ``close``: `cache clean` evicts an
        entry only with an exclusive one. (Waits while a clean is evicting it; the entry is then gone,
        which the caller's check finds.) Opened anew each time: a rebuilt entry is a new entry.json."""
        try:
            handle = open(directory / ENTRY_FILE, "rb")
        except OSError:
            return  # no entry.json: the caller's check says so
        if fcntl is not None:
            with contextlib.suppress(OSError):  # a filesystem without locks: unguarded, as before
                fcntl.flock(handle, fcntl.LOCK_SH)
        with self._held_guard:
            previous, self._held[directory] = self._held.get(directory), handle
        if previous is not None:
            previous.close()

    def _release(self, directory: Path) -> None:
        with self._held_guard:
            handle = self._held.pop(directory, None)
        if handle is not None:
            handle.close()  # closing the descriptor drops its flock

    def close(self) -> None:
        """Drop the shared locks on every entry this cache served: the run is done with them."""
        with self._held_guard:
            handles, self._held = list(self._held.values()), {}
        for handle in handles:
            handle.close()

    def lookup(self, key: StageKey) -> CacheEntry | None:
        """A hit that verifies, else None; a corrupt entry is evicted (``obtain`` also says why)."""
        entry, problem = self.inspect(key)
        if problem is not None:
            with self.locked(key):
                self._evict_if_corrupt(key)
        return entry

    def obtain(self, key: StageKey, fill: Callable[[Path], dict],
               on_evict: Callable[[str], None] = lambda problem: None) -> Obtained:
        """The entry for ``key``: a hit that verifies, or built by ``fill(directory) -> payload`` and
        published. A corrupt entry is evicted and rebuilt, and ``on_evict(why)`` is called first."""
        entry, _ = self.inspect(key)
        if entry is not None:
            return Obtained(entry, cached=True)
        with self.locked(key):
            # Look again: a run we waited for may have published it, or evicted the corrupt one.
            entry, _ = self.inspect(key)
            if entry is not None:
                return Obtained(entry, cached=True)
            problem = self._evict_if_corrupt(key)
            if problem is not None:
                on_evict(problem)
            with self.build(key, replace=not self.enabled) as building:
                building.payload = fill(building.directory)
            self._hold(building.directory)  # still under the key's lock: no clean can come between
            return Obtained(building, cached=False)

    def _evict_if_corrupt(self, key: StageKey) -> str | None:
        directory = self._entry_dir(key)
        if not directory.exists():
            return None
        _, problem = read_entry(directory)
        if problem is not None:
            evict(directory)
        return problem

    @contextlib.contextmanager
    def locked(self, key: StageKey) -> Iterator[None]:
        """Hold ``<key>.lock`` so runs needing the same entry take turns instead of duplicating work."""
        lock = self._entry_dir(key).with_name(f"{key.digest[:KEY_CHARS]}.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as handle:  # "a": create without truncating another run's lock
            _acquire(handle, key)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def build(self, key: StageKey, replace: bool = False) -> Iterator[CacheEntry]:
        """Yield an entry to fill; it is published only if the block succeeds. ``replace``: ours
        takes the place of an existing entry that verifies (a forced rebuild), else theirs is kept."""
        final = self._entry_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        # The pid in the name lets a later run tell a killed run's leftovers from work in progress.
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{owner_tag()}.", suffix=".partial", dir=final.parent))
        entry = CacheEntry(tmp)
        try:
            yield entry
            write_entry(tmp, entry.payload)
            entry.payload = _publish(tmp, final, entry.payload, replace)
            entry.directory = final
        except Exception as exc:
            # A full disk may surface wrapped (an exporter's or quantizer's own error around the
            # OSError): its cause names the real problem, and the fix is room, not the model.
            written = _disk_error(exc)
            full = written and no_room_error(written, f"cache entry {key.stage}/{final.name} in the stage cache "
                                             f"{self.root.parent}", "free space there or pass --cache-dir a folder "
                                             "with room", self.root)
            if not full:
                raise
            raise full from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _disk_error(exc: BaseException) -> OSError | None:
    """The OSError in ``exc``'s chain of causes, if any (a wrapped write failure)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _acquire(handle, key: StageKey) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        progress(key.stage, "waiting for another run that is building the same step")
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:
        pass  # a filesystem without locks: runs may duplicate work, publishing stays safe


def _publish(tmp: Path, final: Path, payload: dict, replace: bool) -> dict:
    """Rename ``tmp`` to ``final``; return the payload of the entry that ends up there. An entry
    already there that verifies stays (another run may be reading it) unless ``replace``; one that
    does not verify is moved aside first."""
    for _ in range(_PUBLISH_TRIES):
        if final.exists():
            existing, problem = read_entry(final)
            if problem is None and not replace:
                return existing  # theirs is as good as ours; ours is discarded by the caller
            evict(final)
        try:
            os.rename(tmp, final)
            return payload
        except OSError as exc:
            # Another run published between our check and our rename: look at theirs again.
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    raise OutputError(f"cannot publish cache entry {final}: other runs keep replacing it; rerun")


def evict(directory: Path) -> None:
    """Move an entry aside in one rename (a reader never sees half an entry), then delete it."""
    trash = directory.with_name(f".{directory.name}.{owner_tag()}.{secrets.token_hex(4)}.trash")
    try:
        os.rename(directory, trash)
    except FileNotFoundError:
        return  # another run evicted it first
    shutil.rmtree(trash, ignore_errors=True)


def _touch(directory: Path) -> None:
    """Mark an entry as used now (``cache clean --older-than`` goes by last use)."""
    with contextlib.suppress(OSError):  # a read-only cache still serves hits
        os.utime(directory / ENTRY_FILE)


def write_entry(directory: Path, payload: dict) -> None:
    files = {name: {"size": path.stat().st_size, "sha256": sha256_file(path)}
             for name, path in entry_files(directory)}
    record = {"format": ENTRY_FORMAT, "files": files, "payload": payload}
    (directory / ENTRY_FILE).write_text(json.dumps(record, indent=2, default=str))


def entry_files(directory: Path) -> list[tuple[str, Path]]:
    """Every file of an entry but entry.json, by its relative POSIX name."""
    named = ((p.relative_to(directory).as_posix(), p) for p in sorted(directory.rglob("*")) if p.is_file())
    return [(name, path) for name, path in named if name != ENTRY_FILE]


def read_entry(directory: Path, hashes: bool = True) -> tuple[dict, str | None]:
    """An entry's payload and None when every listed file is there with its size and sha256
    (``hashes=False``: sizes only), else ({}, why not)."""
    try:
        record = json.loads((directory / ENTRY_FILE).read_text())
    except FileNotFoundError:
        return {}, f"{ENTRY_FILE}: missing"
    except (OSError, UnicodeDecodeError, ValueError):
        return {}, f"{ENTRY_FILE}: unreadable or not valid JSON"
    problem = _record_problem(record)
    if problem is None:
        problem = _files_problem(directory, record["files"], hashes)
    return (record["payload"], None) if problem is None else ({}, problem)


def _record_problem(record: object) -> str | None:
    if not isinstance(record, dict) or "payload" not in record or not isinstance(record.get("files"), dict):
        return f"{ENTRY_FILE}: no file list"
    if record.get("format") != ENTRY_FORMAT:
        return f"{ENTRY_FILE}: format {record.get('format')!r}, expected {ENTRY_FORMAT}"
    for name, meta in record["files"].items():
        if (Path(name).is_absolute() or ".." in Path(name).parts or not isinstance(meta, dict)
                or not isinstance(meta.get("size"), int) or not isinstance(meta.get("sha256"), str)):
            return f"{ENTRY_FILE}: malformed file list"
    return None


def _files_problem(directory: Path, files: dict[str, dict], hashes: bool) -> str | None:
    # Sizes first: a truncated or missing file is found without reading anything.
    for name, meta in files.items():
        try:
            size = (directory / name).stat().st_size
        except FileNotFoundError:
            return f"{name}: missing"
        except OSError as exc:
            return f"{name}: unreadable ({exc.strerror or exc})"
        if size != meta["size"]:
            return f"{name}: {size} bytes, expected {meta['size']}"
    if not hashes:
        return None
    for name, meta in files.items():
        try:
            if sha256_file(directory / name) != meta["sha256"]:
                return f"{name}: sha256 mismatch"
        except OSError as exc:
            return f"{name}: unreadable ({exc.strerror or exc})"
    return None


def stage_folders(root: Path) -> list[Path]:
    if not Path(root).is_dir():
        return []
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))


def temp_is_stale(path: Path) -> bool:
    """A temp folder of ours whose process is gone: same host and a dead pid (or, for the old
    names without a pid, untouched for a day). Another host's temp folders are never judged here."""
    match = TEMP_NAME.match(path.name)
    if match is not None:
        return match["host"] == host_tag() and not pid_alive(int(match["pid"]))
    if LEGACY_TEMP_NAME.match(path.name):
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > LEGACY_TEMP_AGE_S
    return False


def remove_stale_temps(root: Path) -> list[Path]:
    """Delete the temp folders killed runs left (only names of ours); return what went."""
    removed = []
    for folder in stage_folders(root):
        for path in folder.iterdir():
            if path.is_dir() and temp_is_stale(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed
