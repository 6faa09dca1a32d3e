"""The recipe and target reference pages, rendered from the JSON schemas and the backends' option models.

Two uses, one renderer:

- a MkDocs hook (mkdocs.yml `hooks:`): the site gets `reference/recipe.md`, `reference/target.md`
  and `reference/backend-options.md` generated at build time, so they cannot drift from
  docs/schema/*.json (which tests/config/test_schema_files.py keeps equal to the code) or from the
  registry's option models;
- a script: `.venv/bin/python scripts/docs_recipe_reference.py recipe` prints one page
  (`recipe`, `target` or `backend-options`) to stdout.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "docs" / "schema"
PAGES = {"recipe": "reference/recipe.md", "target": "reference/target.md",
         "backend-options": "reference/backend-options.md"}


def _type(prop: dict[str, Any]) -> str:
    """A short type for a schema property: `string`, `list of integer`, `minmax | entropy`, a model name."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"] if p.get("type") != "null") + (
            " or null" if any(p.get("type") == "null" for p in prop["anyOf"]) else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return str(kind)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in prop:
        return ""
    return f"`{json.dumps(prop['default'])}`"


def _model_table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        lines.append(f"| `{key}` | {_type(prop)} | {_default(prop, key in required)} | "
                     f"{_cell(prop.get('description', ''))} |")
    return lines


def render_schema(name: str) -> str:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    title = {"recipe": "Recipe reference", "target": "Target profile reference"}[name]
    lines = [f"# {title}", "",
             f"Generated from `docs/schema/{name}.schema.json` (what `edge-pipeline config schema` writes) by",
             "`scripts/docs_recipe_reference.py`. Unknown keys are errors that name the file and the key.", "",
             "## Top level", "", *_model_table(schema), ""]
    for model, sub in sorted(schema.get("$defs", {}).items()):
        lines += [f"## {model}", ""]
        if sub.get("description"):
            lines += [_cell(sub["description"]), ""]
        lines += [*(_model_table(sub) if "properties" in sub else [f"{_type(sub)}"]), ""]
    return "\n".join(lines)


def render_backend_options() -> str:
    from edge_pipeline.backends.registry import BACKENDS

    lines = ["# Backend options", "",
             "A target profile's `options:` (and a recipe's `target_options: {TARGET: {...}}`), per backend,",
             "generated from each backend's options model by `scripts/docs_recipe_reference.py`. An unknown",
             "option is an error naming the target and the key.", ""]
    for name, row in sorted(BACKENDS.items()):
        lines += [f"## {name}", "",
                  f"Extra: `pip install 'edge-pipeline[{row.extra}]'`; on a device, `[{row.device_extra}]`. "
                  f"Timed by default as the `{row.default_variant}` variant.", ""]
        if row.options is None:
            lines += ["No options.", ""]
            continue
        module, cls = row.options.split(":")
        schema = getattr(importlib.import_module(module), cls).model_json_schema()
        lines += [*_model_table(schema), ""]
    return "\n".join(lines)


def render(page: str) -> str:
    return render_backend_options() if page == "backend-options" else render_schema(page)


def on_files(files, config):  # the MkDocs hook signature
    """MkDocs hook: add the generated reference pages to the site."""
    from mkdocs.structure.files import File

    for page, uri in PAGES.items():
        files.append(File.generated(config, uri, content=render(page)))
    return files


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in PAGES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(PAGES)}}}")
    sys.path.insert(0, str(REPO))
    print(render(sys.argv[1]))
