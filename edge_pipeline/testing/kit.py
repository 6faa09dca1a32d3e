"""The test kit: small models of the kinds users bring, in plain torch, with data made here.

- ``tiny_encoder``: a BERT-style sentence encoder, int64 token ids + attention mask -> a pooled
  embedding (additive mask, softmax attention, LayerNorm, GELU MLP).
- ``two_head_detector``: a CNN returning ``{"logits": (B, C), "boxes": (B, 4)}``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

VOCAB = 96
SEQUENCE = 16
DETECTOR_SHAPE = (3, 16, 16)


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape  # (B, S, D)
        head_dim = self.qkv.out_features // (3 * self.heads)  # read from the layer: pruning may narrow heads
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + additive_mask  # (B, H, S, S)
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, self.heads * head_dim)
        x = self.norm1(x + self.proj(attended))
        return self.norm2(x + self.mlp(x))


class TinyEncoder(nn.Module):
    """A BERT-style sentence encoder: token + position embeddings, post-norm blocks, masked mean
    pooling. The attention mask is made additive the way Hugging Face BERT does it, with the float
    type's lowest value (finfo.min), so its calibration ranges are as hostile as a real export's."""

    def __init__(self, vocab: int = VOCAB, dim: int = 32, heads: int = 2, layers: int = 2, max_length: int = 64,
                 mask_value: float | None = None):
        super().__init__()
        self.mask_value = torch.finfo(torch.float32).min if mask_value is None else mask_value
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(max_length, dim)
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(positions)[None]  # (B, S, D)
        keep = attention_mask.to(x.dtype)  # (B, S)
        additive = ((1.0 - keep) * self.mask_value)[:, None, None, :]  # (B, 1, 1, S)
        for block in self.blocks:
            x = block(x, additive)
        return (x * keep[..., None]).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, D)


class TwoHeadDetector(nn.Module):
    def __init__(self, classes: int = 4, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classify = nn.Linear(2 * width, classes)
        self.regress = nn.Linear(2 * width, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(x)  # (B, 2W)
        return {"logits": self.classify(features), "boxes": torch.sigmoid(self.regress(features))}


def tiny_encoder(seed: int = 0, **sizes) -> TinyEncoder:
    """``sizes``: TinyEncoder's vocab, dim, heads, layers, max_length, mask_value."""
    torch.manual_seed(seed)
    return TinyEncoder(**sizes).eval()


# A run loads the teacher once per stage that needs it (distill, prune, export): the brief training
# is seeded, so its weights are kept per seed and the factory trains once per process.
_TRAINED_DETECTORS: dict[int, dict[str, torch.Tensor]] = {}


def two_head_detector(seed: int = 0) -> TwoHeadDetector:
    torch.manual_seed(seed)
    model = TwoHeadDetector()
    if seed not in _TRAINED_DETECTORS:
        _train_briefly(model, seed)
        _TRAINED_DETECTORS[seed] = {name: value.clone() for name, value in model.state_dict().items()}
    model.load_state_dict(_TRAINED_DETECTORS[seed])
    return model.eval()


def encoder_arrays(count: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Token ids in [1, VOCAB) with padding (id 0, mask 0) after a random length of 4..SEQUENCE."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, size=(count, SEQUENCE)).astype(np.int64)
    lengths = rng.integers(4, SEQUENCE + 1, size=count)
    mask = (np.arange(SEQUENCE)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask}


def detector_arrays(count: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is the brightest quadrant's index."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, *DETECTOR_SHAPE)).astype(np.float32)
    half = DETECTOR_SHAPE[1] // 2
    quadrants = np.stack([x[:, :, :half, :half], x[:, :, :half, half:], x[:, :, half:, :half], x[:, :, half:, half:]])
    y = quadrants.mean(axis=(2, 3, 4)).argmax(axis=0).astype(np.int64)
    return x, y


def _train_briefly(model: TwoHeadDetector, seed: int, steps: int = 60) -> None:
    """A few optimizer steps on made-up data, so BatchNorm statistics and heads are not random."""
    x, y = detector_arrays(256, seed + 100)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        index = torch.arange(step * 32, step * 32 + 32) % len(inputs)
        out = model(inputs[index])
        centre = torch.full_like(out["boxes"], 0.5)
        loss = F.cross_entropy(out["logits"], labels[index]) + F.mse_loss(out["boxes"], centre)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def write_opset12_constant_cnn(path, seed: int = 0) -> None:
    """An ONNX file "from elsewhere": opset 12, input 'pixels' [N, 3, H, W] with dynamic H and W,
    every weight a Constant node, plus a dead Constant no output uses."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def constant(name: str, values: np.ndarray):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values.astype(np.float32), name))

    nodes = [
        constant("w1", rng.standard_normal((8, 3, 3, 3)) * 0.3), constant("b1", rng.standard_normal(8) * 0.1),
        constant("w2", rng.standard_normal((4, 8)) * 0.5), constant("b2", np.zeros(4)),
        constant("unused", rng.standard_normal((64, 64, 16))),
        helper.make_node("Conv", ["pixels", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["g1"]),
        helper.make_node("Flatten", ["g1"], ["f1"]),
        helper.make_node("Gemm", ["f1", "w2", "b2"], ["scores"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "opset12-constant-cnn",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], producer_name="elsewhere")
    model.ir_version = 7
    onnx.save(model, str(path))


AUDIO_SAMPLES = 256
STATE = 16


class StatefulPitchNet(nn.Module):
    """Streaming audio: a 1-D CNN over one frame plus a recurrent state in, a pitch estimate
    (regression) and the next state out; a GRU cell written in Linear ops so it exports plainly."""

    def __init__(self, channels: int = 16, state: int = STATE):
        super().__init__()
        self.frontend = nn.Sequential(
            nn.Conv1d(1, channels, 9, stride=4, padding=4), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 9, stride=4, padding=4), nn.BatchNorm1d(channels), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(),
        )
        self.gates = nn.Linear(channels + state, 2 * state)
        self.candidate = nn.Linear(channels + state, state)
        self.pitch = nn.Linear(state, 1)

    def forward(self, audio: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.frontend(audio)  # (B, C)
        update, reset = torch.sigmoid(self.gates(torch.cat([features, state], dim=1))).chunk(2, dim=1)  # (B, S) x2
        proposal = torch.tanh(self.candidate(torch.cat([features, reset * state], dim=1)))  # (B, S)
        new_state = (1 - update) * state + update * proposal
        return self.pitch(new_state), new_state


def stateful_pitch_net(seed: int = 0) -> StatefulPitchNet:
    torch.manual_seed(seed)
    return StatefulPitchNet().eval()


def audio_arrays(count: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Sine frames of random pitch with noise, and a state carried from a previous frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(AUDIO_SAMPLES) / 8000.0
    pitch = rng.uniform(80, 800, size=(count, 1))
    audio = np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal((count, AUDIO_SAMPLES))
    return {"audio": audio[:, None, :].astype(np.float32),
            "state": np.tanh(rng.standard_normal((count, STATE))).astype(np.float32)}


def detector_metric(outputs: dict[str, np.ndarray], labels: np.ndarray | None) -> dict[str, float]:
    """A task metric for the two-head detector, the shape a user's ``metric:`` function takes: class
    accuracy in percent (higher is better) and the mean box coordinate's distance from the image
    centre (declared lower-is-better in the recipes that use it)."""
    figures = {"box_offset": float(np.abs(outputs["boxes"] - 0.5).mean())}
    if labels is not None:
        figures["class_accuracy"] = float((outputs["logits"].argmax(axis=1) == labels).mean() * 100.0)
    return figures


KIT_MODELS = ("encoder", "detector", "audio", "onnx-opset12", "mobilenet")
ALL_TARGETS = ["x86-cpu-onnxruntime", "x86-cpu-openvino", "x86-gpu-tensorrt", "android-arm64-onnxruntime"]


def kit_recipe(name: str, workdir, samples: int = 48) -> dict:
    """A ready recipe for one kit model (see KIT_MODELS), its data written into ``workdir``: what a
    user of each kind of model would write. Targets: every x86/GPU/phone target profile."""
    from pathlib import Path

    workdir = Path(workdir)
    return recipe_around(_KIT_FIELDS[name](workdir, samples), f"kit-{name}", workdir, samples)


def recipe_around(fields: dict, name: str, workdir, samples: int) -> dict:
    """A kit model's own recipe fields with what every kit recipe shares: its data in ``workdir``
    (calibration.npz, eval.npz), every x86/GPU/phone target, a short benchmark."""
    from pathlib import Path

    workdir = Path(workdir)
    return {
        "metadata": {"name": name},
        "data": {"calibration": {"path": str(workdir / "calibration.npz")},
                 "eval": {"path": str(workdir / "eval.npz")}},
        "targets": list(ALL_TARGETS),
        "stages": ["export", "quantize", "benchmark"],
        "quantize": {"samples": min(32, samples)},
        "benchmark": {"warmup": 2, "iterations": 10, "rounds": 1},
        **fields,
    }


def _encoder_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(workdir / f"{role}.npz", **encoder_arrays(samples, seed))
    return {
        "model": {"factory": "edge_pipeline.testing.kit:tiny_encoder"},
        "inputs": [
            {"name": "input_ids", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, VOCAB]},
            {"name": "attention_mask", "shape": [1, SEQUENCE], "dtype": "int64", "value_range": [0, 2]},
        ],
        "outputs": ["embedding"], "class_score_outputs": [],
    }


def _detector_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        x, y = detector_arrays(samples, seed)
        np.savez(workdir / f"{role}.npz", x=x, y=y)
    return {
        "model": {"factory": "edge_pipeline.testing.kit:two_head_detector"},
        "input": {"name": "image", "shape": [1, *DETECTOR_SHAPE]},
        "class_score_outputs": ["logits"],
        "metric": {"function": "edge_pipeline.testing.kit:detector_metric", "lower_is_better": ["box_offset"]},
    }


def _audio_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(workdir / f"{role}.npz", **audio_arrays(samples, seed))
    return {
        "model": {"factory": "edge_pipeline.testing.kit:stateful_pitch_net"},
        "inputs": [{"name": "audio", "shape": [1, 1, AUDIO_SAMPLES]}, {"name": "state", "shape": [1, STATE]}],
        "outputs": ["pitch", "next_state"], "class_score_outputs": [],
    }


def _opset12_fields(workdir, samples: int) -> dict:
    write_opset12_constant_cnn(workdir / "elsewhere.onnx")
    rng = np.random.default_rng(0)
    for role in ("calibration", "eval"):
        np.savez(workdir / f"{role}.npz", pixels=rng.standard_normal((samples, 3, 24, 24)).astype(np.float32))
    return {"model": {"onnx": str(workdir / "elsewhere.onnx")}, "input": {"name": "pixels", "shape": [1, 3, 24, 24]}}


def _mobilenet_fields(workdir, samples: int) -> dict:
    rng = np.random.default_rng(0)
    for role in ("calibration", "eval"):
        np.savez(workdir / f"{role}.npz", x=rng.standard_normal((samples, 3, 16, 16)).astype(np.float32),
                 y=rng.integers(0, 10, samples))
    return {"model": {"factory": "edge_pipeline.zoo.students:tiny_mobilenet_v2", "kwargs": {"in_channels": 3}},
            "input": {"shape": [1, 3, 16, 16]}}


_KIT_FIELDS = {"encoder": _encoder_fields, "detector": _detector_fields, "audio": _audio_fields,
               "onnx-opset12": _opset12_fields, "mobilenet": _mobilenet_fields}
