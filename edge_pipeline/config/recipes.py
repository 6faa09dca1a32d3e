"""Recipes and target profiles from YAML, with relative data paths resolved against their file."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.loader import load_config
from edge_pipeline.config.locations import default_recipe_path, project_root, targets_dir
from edge_pipeline.config.references import add_search_folder
from edge_pipeline.config.schema import Recipe, TargetProfile
from edge_pipeline.errors import ConfigError, DataError, EdgePipelineError


def load_recipe(path: Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """No path means the embedded default, whose data paths are relative to the project root."""
    if path is None:
        recipe = load_config(Recipe, default_recipe_path(), overrides)
        return resolve_recipe_paths(recipe, project_root())
    path = Path(path)
    recipe = load_config(Recipe, path, overrides)
    add_search_folder(path.resolve().parent)  # a factory, provider or metric module beside the recipe imports
    return resolve_recipe_paths(recipe, path.resolve().parent)


def resolve_recipe_paths(recipe: Recipe, base: Path) -> Recipe:
    updated = recipe.model_copy(deep=True)
    for setting, spec in _dataset_specs(updated):
        spec.path = _absolute(spec.path, base, setting, DataError)
    if updated.distill is not None:
        student = updated.distill.student
        student.checkpoint = _absolute(student.checkpoint, base, "distill.student.checkpoint", ConfigError)
    for field in ("checkpoint", "program", "onnx"):
        value = getattr(updated.model, field)
        setattr(updated.model, field, _absolute(value, base, f"model.{field}", ConfigError))
    return updated


def _absolute(path: Path | None, base: Path, setting: str, error: type[EdgePipelineError]) -> Path | None:
    """A relative path resolved against the recipe's folder. A symlink loop fails here, naming the
    setting, before anything else follows the link (Python < 3.13 raises RuntimeError for it)."""
    if path is None:
        return None
    try:
        resolved = (base / path).resolve()
    except (RuntimeError, OSError) as exc:
        raise error(f"{setting} {path} cannot be resolved (a symlink loop); point it at a real file or folder") \
            from exc
    return path if path.is_absolute() else resolved


def _dataset_specs(recipe: Recipe) -> list[tuple[str, DatasetSpec]]:
    specs = [("data.calibration.path", recipe.data.calibration), ("data.eval.path", recipe.data.eval)]
    specs += [(f"{name}.data.dataset.path", section.data.dataset)
              for name, section in (("distill", recipe.distill), ("prune", recipe.prune)) if section is not None]
    return [(setting, spec) for setting, spec in specs if spec is not None]


def available_targets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(targets_dir().glob("*.yaml"))}


def load_target(name: str) -> TargetProfile:
    known = available_targets()
    path = known.get(name)
    if path is None:
        if Path(name).suffix in {".yaml", ".yml"} and Path(name).is_file():
            path = Path(name)
        else:
            raise ConfigError(
                f"unknown target '{name}'; known targets: {', '.join(known) or '(none)'} "
                "(or pass a path to a target YAML)"
            )
    profile = load_config(TargetProfile, path)
    if profile.metadata.name != path.stem:
        raise ConfigError(f"{path}: metadata.name '{profile.metadata.name}' must equal the file name '{path.stem}'")
    return profile
