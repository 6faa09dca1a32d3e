"""Content-addressed stage cache.

An entry is a folder ``<root>/<stage>/<key>/`` holding the stage's files and ``entry.json``. It
is built under a temp name and renamed into place, so a half-finished stage is never a hit. The
key is the sha256 of the stage's input hashes, config and tool versions (``StageKey``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge_pipeline.artifacts.hashing import sha256_json

ENTRY_FILE = "entry.json"


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


class StageCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def _entry_dir(self, key: StageKey) -> Path:
        return self.root / key.stage / key.digest[:32]

    def lookup(self, key: StageKey) -> CacheEntry | None:
        directory = self._entry_dir(key)
        entry_file = directory / ENTRY_FILE
        if not self.enabled or not entry_file.is_file():
            return None
        return CacheEntry(directory, json.loads(entry_file.read_text()))

    @contextlib.contextmanager
    def build(self, key: StageKey) -> Iterator[CacheEntry]:
        """Yield an entry to fill; it is published only if the block succeeds."""
        final = self._entry_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
        entry = CacheEntry(tmp)
        try:
            yield entry
            (tmp / ENTRY_FILE).write_text(json.dumps(entry.payload, indent=2, default=str))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            entry.directory = final
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
