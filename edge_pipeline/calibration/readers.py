"""Read a DatasetSpec from .npz, .npy or a folder of images into an ArrayDataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_pipeline.calibration.dataset import ArrayDataset, dataset_file_hash
from edge_pipeline.config.data import DatasetSpec
from edge_pipeline.config.schema import InputSpec
from edge_pipeline.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm"}


def load_dataset(spec: DatasetSpec, input_spec: InputSpec, role: str) -> ArrayDataset:
    """The dataset named after the model input ``input_spec`` and checked against its shape and dtype."""
    path = Path(spec.path)
    sample_shape = tuple(input_spec.shape[1:])
    if not path.exists():
        raise DataError(f"{role} data {path} does not exist; point data.{role}.path at a .npz, .npy or image folder")
    fmt = spec.format if spec.format != "auto" else _guess_format(path)
    if fmt == "npz":
        inputs, labels = _read_npz(path, spec)
    elif fmt == "npy":
        inputs, labels = _read_npy(path), None
    else:
        inputs, labels = _read_images(path, spec, sample_shape)
    if spec.limit is not None:
        inputs = inputs[: spec.limit]
        labels = None if labels is None else labels[: spec.limit]
    dataset = ArrayDataset({input_spec.name: inputs}, labels, str(path), f"{dataset_file_hash(path)}:{spec.limit}")
    dataset.check_matches({input_spec.name: (sample_shape, input_spec.dtype)}, role)
    return dataset


def _guess_format(path: Path) -> str:
    if path.is_dir():
        return "images"
    if path.suffix in {".npz", ".npy"}:
        return path.suffix[1:]
    raise DataError(f"cannot tell the format of {path}; use a .npz, .npy or an image folder, or set 'format'")


def _read_npz(path: Path, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if spec.inputs_key not in archive.files:
                raise DataError(
                    f"{path} has no array '{spec.inputs_key}' (it has {archive.files}); set inputs_key to one of them"
                )
            inputs = archive[spec.inputs_key]
            labels = archive[spec.labels_key].astype(np.int64) if spec.labels_key in archive.files else None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npz archive ({exc}); re-save it with numpy.savez") from exc
    return inputs, labels


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
    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
        pixels = np.asarray(img, dtype=np.float32) / 255.0
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, H, W)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(-1, 1, 1)
    return ((pixels - mean) / std).astype(np.float32)
