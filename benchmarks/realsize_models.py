"""Real-size model shapes for benchmarks/realsize.py, in plain torch (no torchvision, no timm).

- ``resnet18``: ResNet-18 (BasicBlock, [2, 2, 2, 2], 1000 classes), 11.7 M parameters, 1.8 G MACs
  at 224 × 224.
- ``mobilenet_v2``: MobileNetV2 width 1.0 (inverted residuals, ReLU6, 1000 classes), 3.5 M
  parameters, 0.3 G MACs at 224 × 224.
- ``digits_resnet``: the embedded default's SmallResNet on 1 × 8 × 8 (teacher widths 128, 256, 512;
  the distilled student is half as wide), for timing the default's small, sub-millisecond IRs.
- ``bert_encoder``: a BERT-base-shaped encoder (hidden 768, 12 layers, 12 heads, MLP 3072, vocab
  30522, post-norm, GELU, Hugging Face style finfo.min additive attention mask), masked mean pooled.

Weights are random (the figures are speed and INT8 fidelity to the same model's FP32, not
accuracy). The CNNs' BatchNorm statistics are not left at their init (mean 0, var 1, which would
make every BN an identity and the activations' ranges arbitrary): a few forward passes in train
mode over random images set them, as a short fine-tune would.
"""

from __future__ import annotations

import math

import torch
from torch import nn

IMAGE_SHAPE = (3, 224, 224)


def _calibrate_batchnorm(model: nn.Module, seed: int, batches: int = 6, batch_size: int = 8,
                         shape: tuple[int, int, int] = IMAGE_SHAPE) -> nn.Module:
    """Running statistics = the cumulative mean over ``batches`` random batches (momentum None)."""
    generator = torch.Generator().manual_seed(seed + 1000)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, *shape, generator=generator))
    return model.eval()


class _BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        layers, width = [], 64
        for outputs, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_BasicBlock(width, outputs, stride), _BasicBlock(outputs, outputs, 1)]
            width = outputs
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)))


def _conv_bn(inputs: int, outputs: int, kernel: int, stride: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(outputs)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class _InvertedResidual(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int, expand: int):
        super().__init__()
        hidden = inputs * expand
        layers = [_conv_bn(inputs, hidden, 1, 1)] if expand != 1 else []
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, outputs, 1, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    # (expansion t, channels c, repeats n, first stride s), the paper's table 2
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self, classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
        width = 32
        for expand, channels, repeats, stride in self.SETTINGS:
            for index in range(repeats):
                layers.append(_InvertedResidual(width, channels, stride if index == 0 else 1, expand))
                width = channels
        layers.append(_conv_bn(width, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape  # (B, S, D)
        head_dim = dim // self.heads
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + additive_mask  # (B, H, S, S)
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, dim)
        x = self.norm1(x + self.proj(attended))
        return self.norm2(x + self.mlp(x))


class BertEncoder(nn.Module):
    """BERT-base shape: embeddings + LayerNorm, post-norm layers, masked mean pooling -> (B, D)."""

    def __init__(self, vocab: int = 30522, dim: int = 768, heads: int = 12, layers: int = 12, mlp: int = 3072,
                 max_length: int = 512):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(max_length, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList(_BertLayer(dim, heads, mlp) for _ in range(layers))
        for module in self.modules():  # BERT's initializer: N(0, 0.02), zero biases
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, 0, 0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.norm(self.tokens(input_ids) + self.positions(positions)[None])  # (B, S, D)
        keep = attention_mask.to(x.dtype)  # (B, S)
        additive = ((1.0 - keep) * torch.finfo(x.dtype).min)[:, None, None, :]  # (B, 1, 1, S)
        for layer in self.layers:
            x = layer(x, additive)
        return (x * keep[..., None]).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)  # (B, D)


def resnet18(seed: int = 0, image_size: int = 224) -> ResNet18:
    torch.manual_seed(seed)
    return _calibrate_batchnorm(ResNet18(), seed, shape=(3, image_size, image_size))


def mobilenet_v2(seed: int = 0, image_size: int = 224, residual_gain: float = 0.3) -> MobileNetV2:
    """``residual_gain``: the γ of each residual branch's last BatchNorm (after the statistics pass).
    At 1.0 the random network is chaotic: 1% input noise (40 dB) already moves its logits to cosine
    0.96, so no INT8 (about 40 dB per layer) can come near FP32, and cosine would measure the random
    weights, not the quantizer. Trained networks' branches refine rather than replace (the reason
    for zero-init residual schemes); at 0.3 the same noise leaves cosine 0.9999, as ResNet-18 at
    its init (0.9993)."""
    torch.manual_seed(seed)
    model = _calibrate_batchnorm(MobileNetV2(), seed, shape=(3, image_size, image_size))
    with torch.no_grad():
        for block in model.features:
            if isinstance(block, _InvertedResidual) and block.residual:
                block.body[-1][1].weight.fill_(residual_gain)
    return model


def bert_encoder(seed: int = 0, **sizes) -> BertEncoder:
    """``sizes``: BertEncoder's vocab, dim, heads, layers, mlp, max_length."""
    torch.manual_seed(seed)
    return BertEncoder(**sizes).eval()


def digits_resnet(seed: int = 0, widths: tuple[int, int, int] = (128, 256, 512)) -> nn.Module:
    """The default recipe's SmallResNet shape with random weights (its timings, not its accuracy)."""
    from edge_pipeline.zoo.resnet import SmallResNet

    torch.manual_seed(seed)
    return _calibrate_batchnorm(SmallResNet(tuple(widths), num_classes=10, in_channels=1), seed, shape=(1, 8, 8))
