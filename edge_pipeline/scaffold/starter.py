"""What `edge-pipeline init` writes: the recipe and its calibration stub, never over a file, with the
targets that work on this machine."""

from __future__ import annotations

import io
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_pipeline.artifacts.atomic import clean_stale_siblings
from edge_pipeline.benchmarking.memory import oversized_batch
from edge_pipeline.calibration.layout import sample_axis, with_axis
from edge_pipeline.config.loader import parse_yaml
from edge_pipeline.config.schema import InputSpec, Recipe
from edge_pipeline.errors import ConfigError, DataError, EdgePipelineError, OutputError
from edge_pipeline.scaffold.facts import ModelFacts, factory_facts, first_error, onnx_facts, parse_dtypes, parse_shapes
from edge_pipeline.scaffold.recipe_text import STUB_SAMPLES, recipe_text

_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass
class Written:
    recipe: Path
    calibration: Path
    targets: list[str]


def init_recipe(out: Path, factory: str | None = None, onnx: Path | None = None, shapes: list[str] | None = None,
                dtypes: list[str] | None = None, input_name: str | None = None) -> Written:
    """Read the model (a factory or an ONNX file), then write ``out`` and its calibration stub."""
    out = Path(out)
    refuse_existing(out)  # before building the model: a refusal should not wait for it
    parsed_shapes = parse_shapes(shapes or [])
    if onnx is not None:
        if dtypes or input_name:
            raise ConfigError("--input-dtype and --input-name go with --factory; an ONNX file names its inputs "
                              "and their dtypes")
        facts = onnx_facts(Path(onnx), parsed_shapes)
        facts.source = {"onnx": _relative_path(Path(onnx), out.parent)}
    elif factory is not None:
        facts = factory_facts(factory, parsed_shapes, parse_dtypes(dtypes or []), input_name or "input")
        facts.source = {"factory": relative_reference(factory, out.parent)}
    else:
        raise ConfigError("name the model: --factory 'file.py:function' or --onnx model.onnx")
    usable = runnable_targets()
    chosen = first_per_backend(usable)
    return write_starter(facts, out, chosen, [t for t in usable if t not in chosen])


def calibration_path(recipe_path: Path) -> Path:
    return recipe_path.with_name(f"{recipe_path.stem}.calibration.npz")


def refuse_existing(recipe_path: Path) -> None:
    existing = [str(p) for p in (recipe_path, calibration_path(recipe_path)) if p.exists() or p.is_symlink()]
    if existing:
        raise OutputError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; init never "
                          "overwrites: pass another --out or move the file away")


def _relative_path(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


# ---- where it runs --------------------------------------------------------------------------------


def runnable_targets() -> list[str]:
    """Target profiles for this machine's CPU architecture whose backend makes artifacts here."""
    from edge_pipeline.backends.registry import probe
    from edge_pipeline.config.recipes import available_targets, load_target

    arch = _ARCH.get(platform.machine().lower())
    works: dict[str, bool] = {}
    usable = []
    for name in available_targets():
        try:
            profile = load_target(name)
            if profile.backend not in works:
                works[profile.backend] = probe(profile.backend)[0]
        except EdgePipelineError:
            continue  # a profile that does not load, or an unregistered backend, is nothing to suggest
        if profile.device.kind == "cpu" and profile.device.arch == arch and works[profile.backend]:
            usable.append(name)
    return usable


def first_per_backend(targets: list[str]) -> list[str]:
    """One target per backend for the first run (names sort the plain profile before its variants)."""
    from edge_pipeline.config.recipes import load_target

    chosen: dict[str, str] = {}
    for name in sorted(targets):
        chosen.setdefault(load_target(name).backend, name)
    return sorted(chosen.values())


# ---- the files ------------------------------------------------------------------------------------


def write_starter(facts: ModelFacts, recipe_path: Path, targets: list[str], others: list[str] | None = None) -> Written:
    """Write the recipe and its calibration stub; refuses (OutputError) if either exists."""
    if not targets:
        raise ConfigError("no backend makes artifacts on this machine; install one: pip install "
                          "'edge-pipeline[onnxruntime]' (edge-pipeline doctor says what is missing)")
    refuse_existing(recipe_path)
    calibration = calibration_path(recipe_path)
    text = recipe_text(facts, calibration.name, targets, others)
    _check_loads(text, recipe_path)
    _refuse_oversized_stub(facts.inputs, calibration)
    # Both files' bytes exist before either file does: a failure while making them leaves nothing.
    stub = io.BytesIO()
    np.savez(stub, **stub_arrays(facts.inputs))
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    _write_new(calibration, stub.getvalue())
    try:
        _write_new(recipe_path, text.encode())
    except BaseException:
        calibration.unlink(missing_ok=True)  # a recipe that could not be written leaves no stub behind
        raise
    return Written(recipe_path, calibration, targets)


def _refuse_oversized_stub(specs: list[InputSpec], calibration: Path) -> None:
    """Random samples of inputs too large for this machine would end in numpy's allocation error."""
    shapes = {spec.name: (tuple(spec.sample_shape), spec.dtype) for spec in specs}
    reason = oversized_batch(shapes, STUB_SAMPLES)
    if reason is not None:
        raise DataError(f"cannot make the calibration stub {calibration.name} of {STUB_SAMPLES} random samples: "
                        f"{reason}; the model's inputs are too large for this machine (pin smaller dynamic dims "
                        "with --input-shape NAME=DIMS); nothing was written")


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` exclusively and whole: written to a temp sibling (named as
    artifacts/atomic.py names them, so a killed init's is swept), then hard-linked into place,
    which refuses a file that appeared since the check instead of replacing it."""
    clean_stale_siblings(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path} ({exc.strerror or exc}); choose a writable --out") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.link(tmp, path)
    except FileExistsError as exc:
        raise OutputError(f"{path} already exists; init never overwrites: pass another --out") from exc
    except OSError as exc:
        raise OutputError(f"cannot write {path} ({exc.strerror or exc}); free space or choose a writable "
                          "--out") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_loads(text: str, recipe_path: Path) -> None:
    """The recipe must validate before anything is written: a failure here is init's bug, said plainly."""
    try:
        Recipe.model_validate(parse_yaml(text))
    except ValueError as exc:
        raise ConfigError(f"the starter recipe for {recipe_path} does not validate ({first_error(exc)}); "
                          "please report this") from exc


def stub_arrays(specs: list[InputSpec], samples: int = STUB_SAMPLES, seed: int = 0) -> dict[str, np.ndarray]:
    """Random samples of each input's per-sample shape and dtype (one array per input name)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for spec in specs:
        # Samples along the input's batch axis (an RNN state's axis 1); a scalar's one value per sample.
        shape = with_axis(spec.sample_shape, sample_axis(spec.batch_axis), samples)
        if spec.dtype in ("float32", "float16"):
            arrays[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
        elif spec.dtype == "bool":
            arrays[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:  # ids in [0, 2): inside any embedding, and a valid 0/1 mask
            low, high = spec.value_range or (0, 2)
            arrays[spec.name] = rng.integers(int(low), int(high), shape).astype(spec.dtype)
    return arrays


def relative_reference(reference: str, recipe_folder: Path) -> str:
    """A 'file.py:function' reference rewritten relative to the recipe's folder (where the recipe
    looks files up); a 'package.module:function' reference is returned as given."""
    module, sep, function = reference.rpartition(":")
    if not sep or not module.endswith(".py"):
        return reference
    path = Path(module)
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        return reference  # building the model reports the missing file
    relative = os.path.relpath(path.resolve(), recipe_folder.resolve())
    return f"{Path(relative).as_posix()}:{function}"
