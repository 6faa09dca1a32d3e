"""Small models with the shapes real audio and OCR models have: a GRU carrying state (layers, B, H)
across calls with a scalar sample rate, and a recognizer whose output is (T, B, C)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

CHUNK, LAYERS, HIDDEN = 32, 2, 16


class StreamingGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = nn.Linear(CHUNK, 16)
        self.gru = nn.GRU(16, HIDDEN, num_layers=LAYERS)  # batch_first=False: state is (L, B, H)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, audio: torch.Tensor, state: torch.Tensor, sr: torch.Tensor):
        features = torch.relu(self.frontend(audio * (16000.0 / sr.to(audio.dtype))))  # (B, 16)
        out, next_state = self.gru(features[None], state)  # (1, B, H), (L, B, H)
        return torch.sigmoid(self.head(out[0])), next_state


def streaming_gru() -> StreamingGRU:
    torch.manual_seed(0)
    return StreamingGRU().eval()


def stream_arrays(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Consecutive chunks of one stream; the state array holds each sample along axis 1."""
    rng = np.random.default_rng(seed)
    audio = (np.sin(np.arange(count * CHUNK) / 5.0) + 0.1 * rng.standard_normal(count * CHUNK)).astype(np.float32)
    return {"audio": audio.reshape(count, CHUNK), "state": np.zeros((LAYERS, count, HIDDEN), np.float32),
            "sr": np.full(count, 16000, np.int64)}


def stream_recipe(folder, count: int = 12, **extra) -> dict:
    arrays = stream_arrays(count)
    np.savez(folder / "stream.npz", **arrays)
    return {
        "metadata": {"name": "stream"},
        "model": {"factory": "tests.integration.shaped_models:streaming_gru"},
        "inputs": [{"name": "audio", "shape": [1, CHUNK]},
                   {"name": "state", "shape": [LAYERS, 1, HIDDEN], "batch_axis": 1},
                   {"name": "sr", "shape": [], "dtype": "int64"}],
        "outputs": ["prob", "next_state"],
        "class_score_outputs": [],
        "state": {"next_state": "state"},
        "data": {"calibration": {"path": str(folder / "stream.npz")}, "eval": {"path": str(folder / "stream.npz")}},
        "quantize": {"samples": 8, "min_cosine": 0.5, "fallback": False},
        "benchmark": {"warmup": 1, "iterations": 3, "rounds": 1},
        **extra,
    }


STEPS, CLASSES = 8, 5


class TinyRecognizer(nn.Module):
    """Conv features collapsed over height, per-step classes as (T, B, C) log-probabilities (CTC's layout)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.classify = nn.Linear(8 * 4, CLASSES)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv(image))  # (B, 8, 4, T)
        steps = features.flatten(1, 2).permute(2, 0, 1)  # (T, B, 32)
        return torch.log_softmax(self.classify(steps), dim=-1)  # (T, B, C)


def tiny_recognizer() -> TinyRecognizer:
    torch.manual_seed(0)
    return TinyRecognizer().eval()


def line_images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 1, 4, STEPS)).astype(np.float32)


def recognizer_metric(outputs: dict[str, np.ndarray], labels: np.ndarray | None) -> dict[str, float]:
    """A regression figure on float targets; it reads the logits as (T, N, C), as the model gives them."""
    logits = outputs["logits"]
    if labels is None or logits.shape != (STEPS, len(labels), CLASSES) or labels.dtype.kind != "f":
        raise ValueError(f"logits {logits.shape} and labels {None if labels is None else labels.dtype}")
    return {"abs_error": float(np.abs(logits.max(-1).mean(0) - labels).mean())}


def recognizer_recipe(folder, count: int = 12) -> dict:
    images = line_images(count)
    np.savez(folder / "lines.npz", x=images, y=np.linspace(-2.0, -1.0, count).astype(np.float32))
    return {
        "metadata": {"name": "recognizer"},
        "model": {"factory": "tests.integration.shaped_models:tiny_recognizer"},
        "input": {"name": "image", "shape": [1, 1, 4, STEPS]},
        "outputs": ["logits"],
        "output_batch_axes": {"logits": 1},
        "metric": "tests.integration.shaped_models:recognizer_metric",
        "data": {"calibration": {"path": str(folder / "lines.npz")}, "eval": {"path": str(folder / "lines.npz")}},
        "quantize": {"samples": 8, "min_cosine": 0.5, "fallback": False},
        "benchmark": {"warmup": 1, "iterations": 3, "rounds": 1},
    }


def stream_samples() -> list[dict[str, np.ndarray]]:
    """A provider of one dict per sample: a state sample is (layers, hidden), sr a 0-d value."""
    arrays = stream_arrays(12)
    return [{"audio": arrays["audio"][i], "state": arrays["state"][:, i], "sr": arrays["sr"][i]} for i in range(12)]


def stream_batches() -> list[dict[str, np.ndarray]]:
    """A provider of batches of 4: the state batched on its axis 1, sr as (4,)."""
    arrays = stream_arrays(12)
    return [{"audio": arrays["audio"][i:i + 4], "state": arrays["state"][:, i:i + 4], "sr": arrays["sr"][i:i + 4]}
            for i in range(0, 12, 4)]


def state_first_graph(path, batch: int | str = "batch", scalar: bool = True) -> None:
    """An ONNX graph whose first input is a state [LAYERS, batch, HIDDEN] (its axis 0 is no batch):
    next_state = state * sr / 16000 with a scalar int64 ``sr`` (``scalar``), else state * 2."""
    from onnx import TensorProto, helper, save

    state = helper.make_tensor_value_info("state", TensorProto.FLOAT, [LAYERS, batch, HIDDEN])
    out = helper.make_tensor_value_info("next_state", TensorProto.FLOAT, [LAYERS, batch, HIDDEN])
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [1.0 / 16000.0 if scalar else 2.0])
    if scalar:
        nodes = [helper.make_node("Cast", ["sr"], ["rate"], to=TensorProto.FLOAT),
                 helper.make_node("Mul", ["rate", "scale"], ["gain"]),
                 helper.make_node("Mul", ["state", "gain"], ["next_state"])]
        inputs = [state, helper.make_tensor_value_info("sr", TensorProto.INT64, [])]
    else:
        nodes, inputs = [helper.make_node("Mul", ["state", "scale"], ["next_state"])], [state]
    graph = helper.make_graph(nodes, "state_first", inputs, [out], [scale])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


class TransposedClassifier(nn.Module):
    """Class scores as (C, B): a head whose output is batched on axis 1."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(CHUNK, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x).T  # (C, B)


def transposed_classifier() -> TransposedClassifier:
    torch.manual_seed(0)
    return TransposedClassifier().eval()
