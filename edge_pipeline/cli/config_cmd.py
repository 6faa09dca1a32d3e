"""Show the effective configuration, or the JSON Schema of recipes and target profiles.

  config show [RECIPE] [--set KEY=VALUE]   the recipe with every default filled in and --set applied,
                                           then each target's profile as the run uses it (the
                                           recipe's quantize/benchmark keys and target_options merged)
  config schema [recipe|target] [--out DIR]  JSON Schema for editors; --out writes
                                           recipe.schema.json and target.schema.json into DIR
"""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.cli.common import add_set_argument, add_targets_dir_argument
from edge_pipeline.cli.output import print_result


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="the effective recipe and target profiles, as YAML")
    show.add_argument("recipe", nargs="?", type=Path, help="recipe YAML (default: the embedded digits recipe)")
    add_set_argument(show)
    add_targets_dir_argument(show)
    schema = actions.add_parser("schema", help="JSON Schema of recipes and target profiles")
    schema.add_argument("kind", nargs="?", choices=["recipe", "target"],
                        help="print only this schema (default: both, keyed by file name)")
    schema.add_argument("--out", type=Path, default=None,
                        help="write the schema files into this folder and print their paths")


def execute(args) -> int:
    return _show(args) if args.action == "show" else _schema(args)


def _show(args) -> int:
    from edge_pipeline.config.recipes import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    document = {"recipe": recipe.model_dump(mode="json"), "targets": effective_targets(recipe)}
    source = args.recipe or "the embedded default recipe"
    print_result(f"# effective configuration of {source}; `targets` shows each profile as the run uses it\n"
                 + _yaml(document), end="")
    return 0


def _yaml(document: dict) -> str:
    """Block YAML, except that a list of plain values stays on one line (shape: [1, 3, 8, 8])."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_list(dumper, data):
        flat = all(not isinstance(item, (dict, list)) for item in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

    Dumper.add_representer(list, represent_list)
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


def effective_targets(recipe) -> dict[str, dict]:
    """Each target's profile with the recipe's quantize and benchmark keys over its defaults (what
    the stages use) and its options as its backend reads them (defaults filled in)."""
    from edge_pipeline.backends.registry import typed_options
    from edge_pipeline.config.recipes import target_path
    from edge_pipeline.config.schema import effective_stage_config
    from edge_pipeline.engine.run import resolve_targets

    shown = {}
    for entry, (name, target) in zip(recipe.targets, resolve_targets(recipe).items(), strict=True):
        profile = target.model_dump(mode="json")
        profile["quantize"] = effective_stage_config(recipe.quantize, target.quantize).model_dump(mode="json")
        profile["benchmark"] = effective_stage_config(recipe.benchmark, target.benchmark).model_dump(mode="json")
        options = typed_options(target)
        profile["options"] = options if isinstance(options, dict) else options.model_dump(mode="json")
        shown[name] = {"file": str(target_path(entry)), **profile}
    return shown


def _schema(args) -> int:
    from edge_pipeline.config.json_schema import SCHEMA_FILES, schema_text, schemas

    chosen = {kind: schema for kind, schema in schemas().items() if args.kind in (None, kind)}
    if args.out is None:
        if args.kind is not None:
            print_result(schema_text(chosen[args.kind]), end="")
        else:
            print_result(schema_text({SCHEMA_FILES[kind]: schema for kind, schema in chosen.items()}), end="")
        return 0
    for kind, schema in chosen.items():
        print_result(_write(args.out / SCHEMA_FILES[kind], schema_text(schema)))
    return 0


def _write(path: Path, text: str) -> Path:
    from edge_pipeline.artifacts.atomic import write_text
    from edge_pipeline.errors import OutputError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, text)
    except OSError as exc:
        raise OutputError(f"--out {path.parent}: cannot write {path.name} ({exc.strerror or exc}); "
                          "pass a writable folder") from exc
    return path
