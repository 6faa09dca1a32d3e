"""A digest of the package code a stage runs: the modules it imports, followed transitively.

Computed from the source, so a cache entry is invalidated by any change to code that could have
made it, and by nothing else (an edit to the HTML report never retrains a student). Imports inside
functions count too: they are how stages load their heavy code on use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import edge_pipeline

PACKAGE = "edge_pipeline"
PACKAGE_ROOT = Path(edge_pipeline.__file__).resolve().parent


def module_file(module: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of ``edge_pipeline.x.y`` (a package's __init__.py), or None."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def read_source(path: Path) -> str:
    return path.read_text()


def imported_modules(source: str, root: Path = PACKAGE_ROOT) -> set[str]:
    """``edge_pipeline`` modules a source imports (``from pkg import module`` resolved to the module)."""
    return set(_imports_of_source(source, root))


# Import statements are found by pattern, not by parsing the module: a warm re-run digests about a
# hundred modules, and ast.parse of each took most of a second. A match inside a string only adds
# a module to the digest (a spurious invalidation, never a missed one). Relative imports are not
# used in the package. Keyed by the source text, so an edited file is read again.
_FROM_IMPORT = re.compile(rf"^[ \t]*from[ \t]+({PACKAGE}[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(rf"^[ \t]*import[ \t]+({PACKAGE}[\w., \t]*)", re.M)


@lru_cache(maxsize=2048)
def _imports_of_source(source: str, root: Path) -> frozenset[str]:
    found: set[str] = set()
    for match in _IMPORT.finditer(source):
        found.update(name.split()[0] for name in match.group(1).split(",") if name.strip())
    for match in _FROM_IMPORT.finditer(source):
        module = match.group(1)
        found.add(module)
        for name in _imported_names(match.group(2)):
            if module_file(f"{module}.{name}", root):
                found.add(f"{module}.{name}")
    return frozenset(name for name in found if name.split(".")[0] == PACKAGE)


def _imported_names(clause: str) -> list[str]:
    """``a, b as c`` or ``(a,  # why\n b)`` -> [a, b]."""
    lines = (line.partition("#")[0] for line in clause.strip("()").splitlines())
    return [part.split()[0] for part in " ".join(lines).split(",") if part.strip()]


def package_modules(package: str, root: Path = PACKAGE_ROOT) -> set[str]:
    """Every module inside a subpackage, e.g. a backend's."""
    folder = root.joinpath(*package.split(".")[1:])
    return {package + "." + ".".join(p.relative_to(folder).with_suffix("").parts).removesuffix(".__init__")
            for p in folder.rglob("*.py")} if folder.is_dir() else {package}


def closure(roots: Iterable[str], root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Module name -> file for ``roots`` and everything they import within the package."""
    seen: dict[str, Path] = {}
    pending = list(roots)
    while pending:
        module = pending.pop()
        path = module_file(module, root)
        if module in seen or path is None:
            continue
        seen[module] = path
        pending.extend(imported_modules(read_source(path), root) - seen.keys())
    return seen


@lru_cache(maxsize=64)
def code_digest(roots: frozenset[str], root: Path = PACKAGE_ROOT) -> str:
    digest = hashlib.sha256()
    for module, path in sorted(closure(roots, root).items()):
        digest.update(module.encode())
        digest.update(hashlib.sha256(read_source(path).encode()).digest())
    return digest.hexdigest()
