"""A digest of the package code a stage runs: the modules it imports, followed transitively.

Computed from the source, so a cache entry is invalidated by any change to code that could have
made it, and by nothing else (an edit to the HTML report never retrains a student). Imports inside
functions count too: they are how stages load their heavy code on use.
"""

from __future__ import annotations

import ast
import hashlib
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


# Keyed by the source text itself, so an edited file is parsed again. Every stage's closure shares
# most modules: parsing each once per process took a warm default re-run from 3.4 s to a fraction.
@lru_cache(maxsize=2048)
def _imports_of_source(source: str, root: Path) -> frozenset[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif (isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE
              and not node.level):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}", root))
    return frozenset(found)


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
