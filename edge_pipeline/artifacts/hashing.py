"""Content hashes: files by sha256, configs by the sha256 of their canonical JSON."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

_CHUNK = 1 << 20


# One run verifies the same files several times (a cache hit, the artifact it yields, the bundle's
# copy of it): within a process a file is hashed again only when its identity or any time stamp
# changed. ctime moves with every write and every utime, and cannot be set back. Time stamps tick
# coarsely (milliseconds), so as git does with its index, a file changed within the last seconds
# is not remembered: a same-size rewrite in the same tick would otherwise look unchanged.
_known: dict[tuple, str] = {}
_SETTLED_NS = 2_000_000_000


def sha256_file(path: Path) -> str:
    stat = os.stat(path)
    identity = (os.path.abspath(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if identity in _known:
        return _known[identity]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > _SETTLED_NS:
        _known[identity] = digest.hexdigest()
    return digest.hexdigest()


def sha256_artifact(path: Path, sidecars: list[Path] | tuple[Path, ...] = ()) -> str:
    """An artifact's content: its file with the files that travel with it (an IR's .xml names
    shapes and offsets only, so two same-shaped models differ only in the .bin), or a folder's tree."""
    path = Path(path)
    if path.is_dir():
        return sha256_tree(path)
    if sidecars:
        return sha256_json([sha256_file(path), *(sha256_file(s) for s in sidecars)])
    return sha256_file(path)


def artifact_size(path: Path, sidecars: list[Path] | tuple[Path, ...] = ()) -> int:
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size + sum(Path(s).stat().st_size for s in sidecars)


def sha256_tree(path: Path) -> str:
    """A folder hashes as its sorted relative paths and their file hashes; a file as its bytes."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def canonical_json(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def sha256_json(data: object) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()
