"""Recipes and target profiles from YAML, with relative data paths resolved against their file."""

from __future__ import annotations

from pathlib import Path

from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.loader import deep_merge, load_config, read_yaml_mapping, validate_config
from edge_pipeline.config.locations import builtin_targets_dir, default_recipe_base, default_recipe_path, targets_dirs
from edge_pipeline.config.references import add_search_folder
from edge_pipeline.config.schema import Recipe, TargetProfile
from edge_pipeline.errors import ConfigError, DataError, EdgePipelineError


def load_recipe(path: Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """No path means the embedded default, whose data paths are relative to the package folder."""
    if path is None:
        recipe = load_config(Recipe, default_recipe_path(), overrides)
        return resolve_recipe_paths(recipe, default_recipe_base())
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
    remote = updated.benchmark.remote
    if remote is not None:
        remote.devices_file = _absolute(remote.devices_file, base, "benchmark.remote.devices_file", ConfigError)
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


TARGET_SUFFIXES = (".yaml", ".yml")


def available_targets() -> dict[str, Path]:
    """Every target profile by name, sorted; a user folder's profile shadows a later folder's
    (and a built-in) of the same name."""
    found: dict[str, Path] = {}
    for folder in reversed(targets_dirs()):
        found.update({path.stem: path for path in sorted(folder.glob("*.yaml"))})
    return dict(sorted(found.items()))


def is_builtin_target(path: Path) -> bool:
    return path.resolve().parent == builtin_targets_dir().resolve()


def load_target(name: str) -> TargetProfile:
    """A profile by name (user folders first, then the built-ins) or by the path of a YAML file,
    with any ``extends:`` chain merged in."""
    from edge_pipeline.config import cpu_match

    path = target_path(name)
    mapping = target_mapping(path)
    if isinstance(mapping.get("device"), dict) and "picked" in mapping["device"]:
        raise ConfigError(f"{path}: device.picked is written by the loader for device.features: auto; remove it")
    if cpu_match.wants_auto(mapping):
        mapping = cpu_match.resolve_auto(path, mapping)
    profile = validate_config(TargetProfile, mapping, str(path))
    if profile.metadata.name != path.stem:
        raise ConfigError(f"{path}: metadata.name '{profile.metadata.name}' must equal the file name '{path.stem}'")
    return profile


def target_path(name: str) -> Path:
    known = available_targets()
    if name in known:
        return known[name]
    if Path(name).suffix in TARGET_SUFFIXES and Path(name).is_file():
        return Path(name)
    raise ConfigError(
        f"unknown target '{name}'; known targets: {', '.join(known) or '(none)'} "
        "(or pass a path to a target YAML, or add its folder with --targets-dir)"
    )


def target_mapping(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The profile's YAML with its ``extends:`` parent (recursively) deep-merged under it."""
    data = read_yaml_mapping(path)
    # metadata.name defaults to the file name (which it must equal), so a child never takes its parent's.
    if isinstance(data.setdefault("metadata", {}), dict):
        data["metadata"].setdefault("name", path.stem)
    if "extends" not in data:
        return data
    parent = data.pop("extends")
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{path}: 'extends' must name a target profile, e.g. extends: x86-cpu-onnxruntime")
    chain = (*chain, path.resolve())
    parent_path = _parent_path(parent, path, chain)
    return deep_merge(target_mapping(parent_path, chain), data)


def lineage(path: Path) -> list[Path]:
    """``path``, then the profile it extends, and so on to the root of its ``extends:`` chain."""
    chain = [path]
    while "extends" in (data := read_yaml_mapping(chain[-1])):
        parent = data["extends"]
        if not isinstance(parent, str) or not parent:
            raise ConfigError(f"{chain[-1]}: 'extends' must name a target profile, e.g. extends: x86-cpu-onnxruntime")
        chain.append(_parent_path(parent, chain[-1], tuple(p.resolve() for p in chain)))
    return chain


def _parent_path(parent: str, child: Path, chain: tuple[Path, ...]) -> Path:
    """``extends: NAME`` finds NAME as ``load_target`` does, except that a profile extending its own
    name (a user profile tweaking the built-in it shadows) gets the next one in the search order;
    ``extends: file.yaml`` is read relative to the child's folder."""
    if Path(parent).suffix in TARGET_SUFFIXES:
        candidates = [path for path in [child.parent / parent] if path.is_file()]
        if not candidates:
            raise ConfigError(f"{child}: extends '{parent}', but {child.parent / parent} does not exist; fix the path")
    else:
        candidates = [folder / f"{parent}.yaml" for folder in targets_dirs() if (folder / f"{parent}.yaml").is_file()]
        if not candidates:
            raise ConfigError(f"{child}: extends '{parent}', which is not a known target; known targets: "
                              f"{', '.join(available_targets())}")
    resolved = [path.resolve() for path in candidates]
    if parent == child.stem and child.resolve() in resolved:
        candidates = candidates[resolved.index(child.resolve()) + 1:] or candidates
    if candidates[0].resolve() in chain:
        cycle = " -> ".join(path.stem for path in (*chain, candidates[0].resolve()))
        raise ConfigError(f"{child}: extends '{parent}' makes a cycle ({cycle}); remove one of the extends")
    return candidates[0]


def with_target_options(target: TargetProfile, target_options: dict[str, dict]) -> TargetProfile:
    """The profile with the recipe's ``target_options`` for it deep-merged over its ``options``
    (the backend's options model checks the result where the target resolves)."""
    extra = target_options.get(target.metadata.name)
    if not extra:
        return target
    return target.model_copy(update={"options": deep_merge(target.options, extra)})
