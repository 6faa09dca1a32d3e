"""The public kit: architectures the project did not design, written from their public definitions,
so that features are proven on graphs users actually export.

- ``hf_bert_encoder``: Hugging Face ``transformers.BertModel`` built from a ``BertConfig`` (no
  download; seeded random weights), int64 ids + attention mask -> ``last_hidden_state``,
  ``pooler_output``. Its export carries Shape/Cast/bool arithmetic in the mask path.
- ``torch_transformer_classifier``: ``torch.nn.TransformerEncoder`` called with a bool
  ``src_key_padding_mask`` (``mask == 0``), masked mean pooling, a linear head.
- ``streaming_vad``: a Silero-style voice activity model: a conv front end over one audio chunk,
  a 2-layer GRU with state ``[layers, B, H]`` and a scalar sample rate ``sr``; speech probability
  and the next state out.
- ``fpn_detector``: an FPN-style detector (stride-2 backbone, top-down nearest upsampling, lateral
  1x1 convs, class and box heads on three levels), run at 640x640.
- ``crnn``: a CRNN text recognizer: conv stack, height collapsed, BiLSTM, per-step classes as
  ``(T, B, C)`` log-probabilities (what a CTC loss takes).
- ``pnet`` / ``rnet`` / ``onet``: MTCNN-style face-detector cascade CNNs with PReLU, 12/24/48 px
  inputs and two or three outputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edge_pipeline.testing.kit import recipe_around

BERT_VOCAB = 512
BERT_SEQUENCE = 32


def hf_bert_encoder(seed: int = 0, layers: int = 2, hidden: int = 64, heads: int = 4, intermediate: int = 128,
                    vocab: int = BERT_VOCAB) -> nn.Module:
    """``transformers.BertModel`` from a config, with its default attention implementation."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=128)
    return BertModel(config).eval()


def token_arrays(count: int, seed: int = 0, vocab: int = BERT_VOCAB,
                 length: int = BERT_SEQUENCE) -> dict[str, np.ndarray]:
    """Token ids in [1, vocab) padded with 0 (mask 0) after a random length of 4..length."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(count, length)).astype(np.int64)
    lengths = rng.integers(4, length + 1, size=count)
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids * mask, "attention_mask": mask}


class TorchTransformerClassifier(nn.Module):
    def __init__(self, vocab: int = BERT_VOCAB, dim: int = 64, heads: int = 4, layers: int = 2, classes: int = 4,
                 max_length: int = 128):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Parameter(torch.randn(1, max_length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.tokens(input_ids) + self.positions[:, : input_ids.shape[1]]  # (B, S, D)
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        keep = attention_mask.to(x.dtype)[..., None]  # (B, S, 1)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)  # (B, D)
        return self.head(pooled)


def torch_transformer_classifier(seed: int = 0, **sizes) -> TorchTransformerClassifier:
    torch.manual_seed(seed)
    return TorchTransformerClassifier(**sizes).eval()


VAD_CHUNK = 512
VAD_LAYERS = 2
VAD_HIDDEN = 64


class StreamingVAD(nn.Module):
    """Silero-style: the sample rate scales the chunk (16 kHz is the reference), a conv front end
    turns it into one feature vector, a GRU carries state across chunks."""

    def __init__(self, hidden: int = VAD_HIDDEN, layers: int = VAD_LAYERS):
        super().__init__()
        self.frontend = nn.Sequential(
            nn.Conv1d(1, 32, 16, stride=8), nn.ReLU(),
            nn.Conv1d(32, 64, 8, stride=4), nn.ReLU(),
            nn.Conv1d(64, 64, 4, stride=2), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(),
        )
        self.gru = nn.GRU(64, hidden, num_layers=layers)
        self.head = nn.Linear(hidden, 1)

    def forward(self, audio: torch.Tensor, state: torch.Tensor, sr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = 16000.0 / sr.to(audio.dtype)  # () scalar input
        features = self.frontend((audio * scale)[:, None, :])  # (B, 64)
        out, next_state = self.gru(features[None], state)  # (1, B, H), (L, B, H)
        return torch.sigmoid(self.head(out[0])), next_state


def streaming_vad(seed: int = 0) -> StreamingVAD:
    torch.manual_seed(seed)
    model = StreamingVAD().eval()
    _tune_to_speech(model, seed)
    return model


VAD_FIT_CHUNKS = 96  # the stream the weights are tuned on: several voiced bursts and pauses
VAD_RIDGE = 0.1  # keeps the head's weights small (tens, not thousands): INT8 noise is not amplified


def _tune_to_speech(model: StreamingVAD, seed: int) -> None:
    """Seeded weights know nothing of speech: the front end's features barely move between voiced chunks
    and noise, and every chunk scores about 0.48, so no decision ever changes. Two closed-form steps on
    a stream of its own make the decisions follow the signal (what training would do), with no change
    to the architecture: the features' standardization folded into the GRU's input weights, then the
    linear head fitted (ridge least squares) to the voiced bursts, run closed-loop."""
    audio, voiced = _vad_stream(VAD_FIT_CHUNKS, seed + 100)
    chunks = torch.from_numpy(audio)[:, None, :]  # (chunks, 1, VAD_CHUNK)
    gru = model.gru
    with torch.no_grad():
        features = model.frontend(chunks)  # (chunks, 64)
        mean, std = features.mean(0), features.std(0) + 1e-6
        gru.weight_ih_l0.div_(std[None, :])  # W x' with x' = (x - mean) / std, as (W / std) x - (W / std) mean
        gru.bias_ih_l0.sub_(gru.weight_ih_l0 @ mean)
        state = torch.zeros(VAD_LAYERS, 1, VAD_HIDDEN)
        steps = []
        for feature in features:
            out, state = gru(feature[None, None, :], state)  # (1, 1, H)
            steps.append(out[0, 0].numpy())
    hidden = np.asarray(steps, np.float64)  # (chunks, H)
    centre = hidden.mean(0)
    target = np.where(voiced > 0.5, 2.0, -2.0)  # logits of a confident speech / non-speech call
    x = hidden - centre
    weight = np.linalg.solve(x.T @ x + VAD_RIDGE * np.eye(x.shape[1]), x.T @ (target - target.mean()))
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(weight).to(torch.float32)[None])
        model.head.bias.copy_(torch.tensor([target.mean() - centre @ weight], dtype=torch.float32))


def _vad_stream(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, VAD_CHUNK) audio, noise with bursts of a voiced (harmonic) signal, and each chunk's voiced
    share (count,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(count * VAD_CHUNK) / 16000.0
    voiced = (np.sin(2 * np.pi * 1.3 * t) > 0.2).astype(np.float32)
    signal = voiced * (0.5 * np.sin(2 * np.pi * 180 * t) + 0.3 * np.sin(2 * np.pi * 360 * t))
    audio = (signal + 0.05 * rng.standard_normal(t.size)).astype(np.float32).reshape(count, VAD_CHUNK)
    return audio, voiced.reshape(count, VAD_CHUNK).mean(1)


def vad_arrays(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Consecutive chunks of one stream: noise with bursts of a voiced (harmonic) signal, the
    initial state zero, sr 16000 for every chunk."""
    audio, _ = _vad_stream(count, seed)
    return {"audio": audio, "state": np.zeros((VAD_LAYERS, count, VAD_HIDDEN), np.float32),
            "sr": np.full(count, 16000, np.int64)}


def vad_metric(outputs: dict[str, np.ndarray], labels: np.ndarray | None) -> dict[str, float]:
    """The VAD's decisions over the eval stream, run closed-loop on its own state: the percentage of
    chunks it calls speech (probability > 0.5), and of those it calls non-speech. Held each to a
    maximum drop, the two keep the speech share within that many points either way (a metric floor is
    one-sided: a quantized VAD that hears speech everywhere raises speech_fraction)."""
    speech = np.asarray(outputs["speech"]).reshape(-1) > 0.5  # (N,) one decision per chunk
    fraction = 100.0 * float(speech.mean()) if speech.size else 0.0
    return {"speech_fraction": fraction, "non_speech_fraction": 100.0 - fraction}


def _conv_bn(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs),
                         nn.SiLU())


class FPNDetector(nn.Module):
    def __init__(self, classes: int = 8, width: int = 16, anchors: int = 1):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, width, 2), _conv_bn(width, width, 2))  # /4
        self.c3 = nn.Sequential(_conv_bn(width, 2 * width, 2), _conv_bn(2 * width, 2 * width, 1))  # /8
        self.c4 = nn.Sequential(_conv_bn(2 * width, 4 * width, 2), _conv_bn(4 * width, 4 * width, 1))  # /16
        self.c5 = nn.Sequential(_conv_bn(4 * width, 8 * width, 2), _conv_bn(8 * width, 8 * width, 1))  # /32
        feature = 2 * width
        self.lateral = nn.ModuleList(nn.Conv2d(c, feature, 1) for c in (2 * width, 4 * width, 8 * width))
        self.smooth = nn.ModuleList(_conv_bn(feature, feature, 1) for _ in range(3))
        self.classify = nn.Conv2d(feature, anchors * classes, 1)
        self.regress = nn.Conv2d(feature, anchors * 4, 1)
        self.classes = classes

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c3 = self.c3(self.stem(images))
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + F.interpolate(p5, size=c4.shape[-2:], mode="nearest")
        p3 = self.lateral[0](c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        scores, boxes = [], []
        for level, smooth in zip((p3, p4, p5), self.smooth, strict=True):
            level = smooth(level)
            scores.append(self.classify(level).flatten(2))  # (B, A*K, H*W)
            boxes.append(self.regress(level).flatten(2))  # (B, A*4, H*W)
        return torch.cat(scores, dim=2).transpose(1, 2).sigmoid(), torch.cat(boxes, dim=2).transpose(1, 2)


def fpn_detector(seed: int = 0, **sizes) -> FPNDetector:
    torch.manual_seed(seed)
    model = FPNDetector(**sizes)
    _settle_batchnorm(model, torch.randn(4, 3, 128, 128))
    return model.eval()


def write_fpn_detector_onnx(path, seed: int = 0, size: int = 640) -> None:
    """The detector as a user's export leaves it: ONNX with dynamic batch, H and W."""
    model = fpn_detector(seed)
    example = torch.randn(1, 3, size, size)
    torch.onnx.export(model, (example,), str(path), input_names=["images"], output_names=["scores", "boxes"],
                      dynamic_axes={"images": {0: "N", 2: "H", 3: "W"}, "scores": {0: "N", 1: "anchors"},
                                    "boxes": {0: "N", 1: "anchors"}}, dynamo=False, opset_version=17)


CRNN_HEIGHT = 32
CRNN_WIDTH = 128
CRNN_CLASSES = 37  # CTC blank + 10 digits + 26 letters


class CRNN(nn.Module):
    def __init__(self, classes: int = CRNN_CLASSES, hidden: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 16, W/2)
            nn.Conv2d(32, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 8, W/4)
            nn.Conv2d(64, 128, 3, 1, 1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d((2, 1)),  # (B, 128, 4, W/4)
            nn.Conv2d(128, 128, (4, 1)), nn.BatchNorm2d(128), nn.ReLU(),  # (B, 128, 1, W/4)
        )
        self.rnn = nn.LSTM(128, hidden, bidirectional=True)
        self.classify = nn.Linear(2 * hidden, classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        sequence = self.features(image).squeeze(2).permute(2, 0, 1)  # (T, B, 128)
        recurrent, _ = self.rnn(sequence)  # (T, B, 2H)
        return self.classify(recurrent).log_softmax(dim=2)  # (T, B, C)


def crnn(seed: int = 0) -> CRNN:
    torch.manual_seed(seed)
    model = CRNN()
    _settle_batchnorm(model, torch.rand(8, 1, CRNN_HEIGHT, CRNN_WIDTH))
    return model.eval()


def text_line_arrays(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Grey text-line-like images: dark vertical strokes of random widths on a light background."""
    rng = np.random.default_rng(seed)
    images = np.full((count, 1, CRNN_HEIGHT, CRNN_WIDTH), 0.9, np.float32)
    for image in images:
        for start in rng.integers(0, CRNN_WIDTH - 4, size=rng.integers(6, 16)):
            image[0, 6:26, start:start + rng.integers(1, 4)] = rng.uniform(0.0, 0.3)
    return {"image": images + 0.02 * rng.standard_normal(images.shape).astype(np.float32)}


class PNet(nn.Module):
    """MTCNN's proposal net: fully convolutional, 12x12 -> face score (B, 2, 1, 1) and box (B, 4, 1, 1)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 10, 3), nn.PReLU(10), nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Conv2d(10, 16, 3), nn.PReLU(16),
            nn.Conv2d(16, 32, 3), nn.PReLU(32),
        )
        self.score = nn.Conv2d(32, 2, 1)
        self.box = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.score(features).softmax(dim=1), self.box(features)


class RNet(nn.Module):
    """MTCNN's refine net: 24x24 -> face score (B, 2) and box (B, 4)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 28, 3), nn.PReLU(28), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(28, 48, 3), nn.PReLU(48), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(48, 64, 2), nn.PReLU(64), nn.Flatten(),
            nn.Linear(64 * 3 * 3, 128), nn.PReLU(128),
        )
        self.score = nn.Linear(128, 2)
        self.box = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.score(features).softmax(dim=1), self.box(features)


class ONet(nn.Module):
    """MTCNN's output net: 48x48 -> face score (B, 2), box (B, 4) and five landmarks (B, 10)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3), nn.PReLU(32), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(32, 64, 3), nn.PReLU(64), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(64, 64, 3), nn.PReLU(64), nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Conv2d(64, 128, 2), nn.PReLU(128), nn.Flatten(),
            nn.Linear(128 * 3 * 3, 256), nn.PReLU(256),
        )
        self.score = nn.Linear(256, 2)
        self.box = nn.Linear(256, 4)
        self.landmarks = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.score(features).softmax(dim=1), self.box(features), self.landmarks(features)


def pnet(seed: int = 0) -> PNet:
    torch.manual_seed(seed)
    return PNet().eval()


def rnet(seed: int = 0) -> RNet:
    torch.manual_seed(seed)
    return RNet().eval()


def onet(seed: int = 0) -> ONet:
    torch.manual_seed(seed)
    return ONet().eval()


def face_crops(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Normalised crops ((x - 127.5) / 128, MTCNN's preprocessing) of smooth random images."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(count, 3, 4, 4)).astype(np.float32)
    pixels = F.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bilinear", align_corners=False).numpy()
    pixels += rng.normal(0, 8, size=pixels.shape).astype(np.float32)
    return ((pixels - 127.5) / 128.0).astype(np.float32)


def _settle_batchnorm(model: nn.Module, example: torch.Tensor, passes: int = 3) -> None:
    """Running statistics from a few forward passes, so BatchNorm is not the identity at export."""
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(example)
    model.eval()


PUBLIC_KIT_MODELS = ("hf-bert", "torch-transformer", "streaming-vad", "fpn-detector", "crnn", "pnet", "rnet", "onet")


def public_kit_recipe(name: str, workdir, samples: int = 48) -> dict:
    """A ready recipe for one public-kit model (see PUBLIC_KIT_MODELS), its data written into
    ``workdir``: only what a user of that architecture would write."""
    from pathlib import Path

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return recipe_around(_FIELDS[name](workdir, samples), f"public-kit-{name}", workdir, samples)


def _token_inputs() -> list[dict]:
    return [{"name": "input_ids", "shape": [1, BERT_SEQUENCE], "dtype": "int64", "value_range": [0, BERT_VOCAB]},
            {"name": "attention_mask", "shape": [1, BERT_SEQUENCE], "dtype": "int64", "value_range": [0, 2]}]


def _hf_bert_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(workdir / f"{role}.npz", **token_arrays(samples, seed))
    return {"model": {"factory": "edge_pipeline.testing.public_kit:hf_bert_encoder", "name": "bert"},
            "inputs": _token_inputs(), "outputs": ["last_hidden_state", "pooler_output"], "class_score_outputs": []}


def _torch_transformer_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(workdir / f"{role}.npz", **token_arrays(samples, seed))
    return {"model": {"factory": "edge_pipeline.testing.public_kit:torch_transformer_classifier",
                      "name": "transformer"},
            "inputs": _token_inputs(), "outputs": ["logits"]}


def _fpn_fields(workdir, samples: int) -> dict:
    write_fpn_detector_onnx(workdir / "detector.onnx")
    rng = np.random.default_rng(0)
    for role in ("calibration", "eval"):
        np.savez(workdir / f"{role}.npz", images=rng.uniform(0, 1, (samples, 3, 640, 640)).astype(np.float32))
    return {"model": {"onnx": str(workdir / "detector.onnx"), "name": "fpn"},
            "input": {"name": "images", "shape": [1, 3, 640, 640]}, "class_score_outputs": []}


def _cascade_fields(size: int, factory: str, outputs: list[str]):
    def fields(workdir, samples: int) -> dict:
        for role, seed in (("calibration", 1), ("eval", 2)):
            np.savez(workdir / f"{role}.npz", x=face_crops(samples, size, seed))
        return {"model": {"factory": f"edge_pipeline.testing.public_kit:{factory}", "name": factory},
                "input": {"name": "x", "shape": [1, 3, size, size]}, "outputs": outputs, "class_score_outputs": []}
    return fields


def _vad_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(workdir / f"{role}.npz", **vad_arrays(samples, seed))
    return {"model": {"factory": "edge_pipeline.testing.public_kit:streaming_vad", "name": "vad"},
            "inputs": [{"name": "audio", "shape": [1, VAD_CHUNK]},
                       {"name": "state", "shape": [VAD_LAYERS, 1, VAD_HIDDEN], "batch_axis": 1},
                       {"name": "sr", "shape": [], "dtype": "int64", "value_range": [8000, 16001]}],
            "outputs": ["speech", "next_state"], "class_score_outputs": [],
            "output_batch_axes": {"next_state": 1}, "state": {"next_state": "state"},
            "metric": {"function": "edge_pipeline.testing.public_kit:vad_metric"},
            # Per-chunk cosine passes while closed-loop INT8 can still flip speech decisions: hold them.
            "quantize": {"samples": min(32, samples),
                         "max_metric_drop": {"speech_fraction": 1.0, "non_speech_fraction": 1.0}}}


def _crnn_fields(workdir, samples: int) -> dict:
    for role, seed in (("calibration", 1), ("eval", 2)):
        np.savez(workdir / f"{role}.npz", **text_line_arrays(samples, seed))
    return {"model": {"factory": "edge_pipeline.testing.public_kit:crnn", "name": "crnn"},
            "input": {"name": "image", "shape": [1, 1, CRNN_HEIGHT, CRNN_WIDTH]},
            "outputs": ["logits"], "class_score_outputs": [], "output_batch_axes": {"logits": 1}}


_FIELDS = {"hf-bert": _hf_bert_fields, "streaming-vad": _vad_fields, "crnn": _crnn_fields,
           "torch-transformer": _torch_transformer_fields, "fpn-detector": _fpn_fields,
           "pnet": _cascade_fields(12, "pnet", ["score", "box"]), "rnet": _cascade_fields(24, "rnet", ["score", "box"]),
           "onet": _cascade_fields(48, "onet", ["score", "box", "landmarks"])}
