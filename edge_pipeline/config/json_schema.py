"""JSON Schema of recipes and target profiles, for editors (yaml-language-server) and other tools.

Generated from the pydantic models, so a field added there shows up here; docs/schema/ holds the
published copies (tests/config/test_json_schema.py keeps them current).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from edge_pipeline.config.schema import Recipe, TargetProfile

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Schema -> its file name under docs/schema/ and under `edge-pipeline config schema --out DIR`.
SCHEMA_FILES = {"recipe": "recipe.schema.json", "target": "target.schema.json"}


def recipe_schema() -> dict[str, Any]:
    return {"$schema": DIALECT, **Recipe.model_json_schema()}


def target_schema() -> dict[str, Any]:
    """TargetProfile's schema plus what the loader adds before validating: ``extends`` (the parent's
    fields deep-merged under the file's) and metadata.name defaulting to the file name."""
    schema = copy.deepcopy(TargetProfile.model_json_schema())
    schema["properties"] = {
        "extends": {
            "type": "string",
            "title": "Extends",
            "description": "A target profile (name, or a YAML path relative to this file) whose fields this "
            "one is deep-merged over, e.g. x86-cpu-onnxruntime.",
        },
        **schema["properties"],
    }
    required = [key for key in schema.pop("required", []) if key != "metadata"]
    # A profile that extends another may leave everything, the backend included, to its parent.
    schema["anyOf"] = [{"required": ["extends"]}, {"required": required}]
    metadata = schema["$defs"]["Metadata"]
    metadata["required"] = [key for key in metadata.pop("required", []) if key != "name"]
    if not metadata["required"]:
        del metadata["required"]
    return {"$schema": DIALECT, **schema}


def schemas() -> dict[str, dict[str, Any]]:
    """{'recipe': schema, 'target': schema}."""
    return {"recipe": recipe_schema(), "target": target_schema()}


def schema_text(schema: dict[str, Any]) -> str:
    """The published form: two-space indent, a final newline."""
    return json.dumps(schema, indent=2) + "\n"
