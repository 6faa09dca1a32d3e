"""Imports go one way: the layer table in docs/architecture.md, enforced on every import statement
of the package (function-local ones included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "edge_pipeline"


def layer_table() -> dict[str, int]:
    text = (REPO / "docs" / "architecture.md").read_text()
    block = re.search(r"<!-- layers:begin -->\s*```\n(.*?)```", text, re.S).group(1)
    layers = {}
    for line in block.strip().splitlines():
        level, *names = line.split()
        layers.update(dict.fromkeys(names, int(level)))
    return layers


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "edge_pipeline"]
        elif (isinstance(node, ast.ImportFrom) and not node.level and node.module
              and node.module.split(".")[0] == "edge_pipeline"):
            found.append((node.lineno, node.module))
    return found


def test_every_package_has_a_layer():
    layers = layer_table()
    packages = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.name != "__pycache__"}
    assert packages <= set(layers), f"add {sorted(packages - set(layers))} to the layer table in docs/architecture.md"


def test_no_upward_imports():
    layers = layer_table()
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        source = (relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 or relative.stem != "__init__"
                  else "__init__")
        for line, module in imports_of(path):
            target = top_package(module)
            if layers[target] > layers[source]:
                upward.append(f"{relative}:{line} imports {module} ({source} is layer {layers[source]}, "
                              f"{target} is layer {layers[target]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)
