"""Read a DatasetSpec from .npz, .npy or a folder of images into an ArrayDataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_pipeline.calibration.dataset import ArrayDataset, dataset_file_hash, read_labels
from edge_pipeline.calibration.layout import Layout, samples
from edge_pipeline.calibration.providers import provided_dataset
from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}


def load_dataset(spec: DatasetSpec, inputs: InputSpec | list[InputSpec], role: str,
                 float_labels: bool = False) -> ArrayDataset:
    """The dataset keyed by the model's input names and checked against each input's shape and dtype.

    A .npz holds one array per input name (a one-input model may use ``inputs_key``, 'x'), plus
    optional integer labels; a .npy or an image folder feeds a one-input model; a provider function
    returns named arrays (calibration/providers.py). Each array holds its samples along its input's
    batch axis; a .npz may add ``sequence_start`` (one bool per sample) where streams start. Float
    labels pass with ``float_labels`` (a recipe metric and no class-score output).
    """
    specs = [inputs] if isinstance(inputs, InputSpec) else list(inputs)
    if spec.provider is not None:
        dataset = provided_dataset(spec.provider, specs, f"data.{role}.provider", spec.labels_key, float_labels,
                                   spec.provider_timeout_s)
        if spec.limit is not None:
            dataset = dataset.take(spec.limit)
        return _checked(dataset, specs, role)
    path = Path(str(spec.path))
    _check_reachable(path, role)
    fmt = spec.format if spec.format != "auto" else _guess_format(path)
    if fmt == "npz":
        arrays, labels, starts = _read_npz(path, spec, [s.name for s in specs], float_labels)
    else:
        if len(specs) != 1:
            raise DataError(f"{role} data {path}: a .{fmt} holds one array, the model takes inputs "
                            f"{[s.name for s in specs]}; save a .npz with one array per input name")
        single = _read_npy(path) if fmt == "npy" else None
        labels, starts = None, None
        if single is None:
            single, labels = _read_images(path, spec, specs[0].sample_shape)
        arrays = {specs[0].name: single}
    layout = _layout(specs)
    if spec.limit is not None:
        arrays = {name: samples(a, 0, spec.limit, layout.input_axis(name)) for name, a in arrays.items()}
        labels = None if labels is None else labels[: spec.limit]
        starts = None if starts is None else starts[: spec.limit]
    dataset = ArrayDataset(arrays, labels, str(path), f"{dataset_file_hash(path)}:{spec.limit}", layout, starts)
    return _checked(dataset, specs, role)


def _layout(specs: list[InputSpec]) -> Layout:
    return Layout(inputs={s.name: s.batch_axis for s in specs})


def _checked(dataset: ArrayDataset, specs: list[InputSpec], role: str) -> ArrayDataset:
    if dataset.layout.is_default and not _layout(specs).is_default:
        dataset = dataset.laid_out(_layout(specs))
    dataset.check_matches({s.name: (s.sample_shape, s.dtype) for s in specs}, role)
    check_value_ranges(dataset, specs, role)
    return dataset


def check_value_ranges(dataset: ArrayDataset, specs: list[InputSpec], role: str) -> None:
    """Integer inputs (token ids) outside their declared range would index past an embedding."""
    arrays = dataset.named_for([s.name for s in specs])
    for spec in specs:
        if spec.value_range is None or not len(arrays[spec.name]):
            continue
        low, high = spec.value_range
        values = arrays[spec.name]
        outside = int(((values < low) | (values >= high)).sum())
        if outside:
            raise DataError(f"{role} data {dataset.source}: input '{spec.name}' has {outside} values outside its "
                            f"value_range [{low:g}, {high:g}) (min {values.min()}, max {values.max()}); fix the data "
                            "or the range")


def _check_reachable(path: Path, role: str) -> None:
    """A missing path and a symlink that never ends (a loop) both fail here, naming the path, instead of
    as a traceback from whatever first follows the link."""
    try:
        path.resolve(strict=True)
    except FileNotFoundError as exc:
        raise DataError(f"{role} data {path} does not exist; point data.{role}.path at a .npz, .npy or image "
                        "folder") from exc
    except (RuntimeError, OSError) as exc:  # Python < 3.13 reports a symlink loop as RuntimeError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a symlink loop"
        raise DataError(f"{role} data {path} cannot be resolved ({reason}); point data.{role}.path at a real "
                        "file or folder") from exc


def _guess_format(path: Path) -> str:
    if path.is_dir():
        return "images"
    if path.suffix in {".npz", ".npy"}:
        return path.suffix[1:]
    raise DataError(f"cannot tell the format of {path}; use a .npz, .npy or an image folder, or set 'format'")


SEQUENCE_START = "sequence_start"  # the .npz array flagging where each stream starts (closed-loop state)


def _read_npz(path: Path, spec: DatasetSpec, names: list[str], float_labels: bool = False
              ) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if all(name in archive.files for name in names):
                arrays = {name: archive[name] for name in names}
            elif len(names) == 1 and spec.inputs_key in archive.files:
                arrays = {names[0]: archive[spec.inputs_key]}
            elif len(names) > 1:  # name what is missing, not what is wanted: some inputs may be there
                missing = [name for name in names if name not in archive.files]
                raise DataError(
                    f"{path} has no array for the model input{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(repr(m) for m in missing)} (it has {archive.files}); save one array per model "
                    f"input name: {names}"
                )
            else:
                raise DataError(
                    f"{path} has arrays {archive.files}, none named {names[0]!r} or {spec.inputs_key!r}; "
                    "save one array per model input name (or set inputs_key for a one-input model)"
                )
            labels = (read_labels(archive[spec.labels_key], f"{path} array '{spec.labels_key}'", float_labels)
                      if spec.labels_key in archive.files else None)
            starts = archive[SEQUENCE_START].astype(bool) if SEQUENCE_START in archive.files else None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npz archive ({exc}); re-save it with numpy.savez") from exc
    return arrays, labels, starts


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npy array ({exc}); re-save it with numpy.save") from exc


def _read_images(
    folder: Path, spec: DatasetSpec, sample_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Subfolders are classes (sorted names -> 0..K-1); loose images are unlabelled."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"image folder {folder} has no {sorted(IMAGE_SUFFIXES)} files; add images or use a .npz")
    if len(sample_shape) != 3:
        raise DataError(f"image folder {folder} needs a (C, H, W) input shape, the model takes {list(sample_shape)}")
    classes = sorted({p.parent.name for p in files if p.parent != folder})
    labelled = classes and all(p.parent != folder for p in files)
    inputs = np.stack([_preprocess(p, spec, sample_shape) for p in files])
    labels = np.array([classes.index(p.parent.name) for p in files], dtype=np.int64) if labelled else None
    return inputs, labels


def _preprocess(path: Path, spec: DatasetSpec, sample_shape: tuple[int, ...]) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as exc:
        raise DataError("reading an image folder needs Pillow: pip install 'edge-pipeline[export]'") from exc
    channels, height, width = sample_shape
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # PIL's decoders raise these
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise DataError(f"image {path} cannot be read ({reason}); replace or remove the file") from exc
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, H, W)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(-1, 1, 1)
    return ((pixels - mean) / std).astype(np.float32)
