"""YAML loading (safe_load only), `--set key.path=value` overrides, and errors that name file and key.

Every recipe, target profile and devices.yaml is untrusted input (a pull request may bring one to a
CI runner), so parsing is bounded: nesting deeper than ``MAX_DEPTH`` and aliases that expand to more
than ``MAX_NODES`` values are refused before anything is built from the document. Aliases stay
legal (``<<: *defaults`` is a common way to share settings); only what they expand to is counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge_pipeline.errors import ConfigError

ConfigT = TypeVar("ConfigT", bound=BaseModel)

# A recipe is a few levels deep and a few hundred values; these leave room for free-form
# mappings (model.kwargs, target_options) while stopping an alias bomb or a nesting bomb in
# milliseconds, before it exhausts memory or Python's recursion limit.
MAX_DEPTH = 64
MAX_NODES = 100_000


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML keeps the last silently,
    so a recipe would run with a setting its author believes is something else."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *defaults' may be overridden on purpose
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: the base constructor names it properly
            break
        if duplicate:
            raise DuplicateKeyError(key, seen[key], key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


class _BoundedLoader(_UniqueKeyLoader):
    """Counts nesting while composing (PyYAML's composer recurses once per level)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlLimitError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class YamlLimitError(yaml.YAMLError):
    """A document past a parsing bound; ``problem`` and ``line`` as the parser's own errors give them."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.problem, self.line = problem, line


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion (every alias written out) is too deep or too large.

    Aliases make the composed graph a DAG (or a cycle): sizes are memoised per node, so a bomb of
    nested aliases is measured in as many steps as it has distinct nodes, and the walk stops at
    ``MAX_DEPTH`` so it cannot recurse further than that."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlLimitError(f"aliases nest deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in in_progress:
            raise YamlLimitError("an alias refers to the node that holds it", node.start_mark.line + 1)
        in_progress.add(id(node))
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else node.value if isinstance(node, yaml.SequenceNode) else [])
        size = 1 + sum(measure(child, depth + 1) for child in children)
        in_progress.discard(id(node))
        if size > MAX_NODES:
            raise YamlLimitError(f"aliases expand to more than {MAX_NODES} values", node.start_mark.line + 1)
        sizes[id(node)] = size
        return size

    measure(root, 1)


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key, first_line: int, line: int):
        super().__init__(f"key '{key}' appears twice (line {first_line} and line {line})")
        self.key, self.first_line, self.line = key, first_line, line


def parse_yaml(text: str):
    """Safe YAML with duplicate keys refused and size bounded (raises yaml.YAMLError)."""
    loader = _BoundedLoader(text)  # a SafeLoader subclass: no arbitrary objects
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml_mapping(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found; pass an existing YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file (byte {exc.start} is not UTF-8); pass a YAML recipe") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from exc
    try:
        data = parse_yaml(text)
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}: line {exc.line}: key '{exc.key}' is given twice (first on line "
                          f"{exc.first_line}); keep one") from exc
    except YamlLimitError as exc:
        raise ConfigError(f"{path}: line {exc.line}: {exc.problem}; write the values out plainly (a recipe "
                          "needs only a few levels and a few hundred values)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)}); fix the syntax") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The parser's complaint and where, on one line (its own message spans several)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem is None:
        return exc.__class__.__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Each override is 'a.b.c=value'; the value is parsed as a YAML scalar or list. Errors name the
    ``--set`` argument, not ``source`` (the recipe file is fine; the override is what to fix)."""
    for item in overrides:
        key_path, sep, raw = item.partition("=")
        if not sep or not key_path or "" in key_path.split("."):
            raise ConfigError(f"--set {item!r}: expected key.path=value, e.g. --set quantize.method=entropy")
        node = data
        *parents, leaf = key_path.split(".")
        for depth, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"--set {item!r}: '{where}' is not a section, so it has no key "
                                  f"'{parents[depth + 1] if depth + 1 < len(parents) else leaf}'; set '{where}' itself")
            node = child
        node[leaf] = _override_value(item, raw)
    return data


def _override_value(item: str, raw: str):
    try:
        return parse_yaml(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: the value is not a plain YAML value ({_yaml_problem(exc)}); quote it "
                          "or give a number, string, list or mapping") from exc


def validate_config(model_type: type[ConfigT], data: dict, source: str,
                    overrides: list[str] | None = None) -> ConfigT:
    try:
        return model_type.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, overrides)) from exc


# Top-level keys that belong elsewhere in a recipe, with where they go (a target's own keys are fine there).
_MISPLACED = {"options": "a recipe sets a target's backend options under target_options.<target name>"}


def format_validation_error(exc: ValidationError, source: str, overrides: list[str] | None = None) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = _blamed(key, source, overrides or [])
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'; {_MISPLACED.get(key, 'remove it or check its spelling')}")
        elif err["type"] == "missing":
            lines.append(f"{where}: missing key '{key}'; add it")
        else:
            lines.append(f"{where}: '{key}': {err['msg']}")
    return "\n".join(lines)


def _blamed(key: str, source: str, overrides: list[str]) -> str:
    """The last ``--set`` that wrote ``key`` (or a section holding it) is what to fix, else the file."""
    for item in reversed(overrides):
        path = item.partition("=")[0]
        if key == path or key.startswith(path + ".") or path.startswith(key + "."):
            return f"--set {item!r}"
    return source


def load_config(model_type: type[ConfigT], path: Path, overrides: list[str] | None = None) -> ConfigT:
    data = apply_overrides(read_yaml_mapping(path), overrides or [], str(path))
    return validate_config(model_type, data, str(path), overrides)


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` over ``base``: mappings merge key by key; anything else, lists included, replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
