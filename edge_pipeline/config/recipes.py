"""Recipes and target profiles from YAML, with relative data paths resolved against their file."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.config.loader import load_config
from edge_pipeline.config.locations import default_recipe_path, project_root, targets_dir
from edge_pipeline.config.schema import Recipe, TargetProfile
from edge_pipeline.errors import ConfigError


def load_recipe(path: Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """No path means the embedded default, whose data paths are relative to the project root."""
    if path is None:
        recipe = load_config(Recipe, default_recipe_path(), overrides)
        return resolve_recipe_paths(recipe, project_root())
    path = Path(path)
    recipe = load_config(Recipe, path, overrides)
    return resolve_recipe_paths(recipe, path.resolve().parent)


def resolve_recipe_paths(recipe: Recipe, base: Path) -> Recipe:
    def absolute(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p).resolve()

    updated = recipe.model_copy(deep=True)
    for spec in _dataset_specs(updated):
        spec.path = absolute(spec.path)
    if updated.distill is not None:
        updated.distill.student.checkpoint = absolute(updated.distill.student.checkpoint)
    for field in ("checkpoint", "program", "onnx"):
        value = getattr(updated.model, field)
        setattr(updated.model, field, absolute(value))
    return updated


def _dataset_specs(recipe: Recipe) -> list:
    specs = [recipe.data.calibration, recipe.data.eval]
    specs += [section.data.dataset for section in (recipe.distill, recipe.prune) if section is not None]
    return [spec for spec in specs if spec is not None]


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
