"""Compact architectures in plain torch, used as students and as pruning examples.

- ``TinyMobileNetV2``: inverted residual blocks (1x1 expand -> 3x3 depthwise -> 1x1 project).
- ``TinyVisionTransformer``: patch embedding + pre-norm blocks of multi-head attention and MLP.
  Attention derives its head size from ``qkv.out_features`` at run time, so pruning head
  dimensions (the number of heads stays) needs no attribute patching afterwards.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Kept importable here for recipes written before it moved to edge_pipeline.zoo.digits (no torch).
from edge_pipeline.zoo.digits import digits_train_arrays  # noqa: F401


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/s, W/s)
        y = self.block(x)
        return x + y if self.use_residual else y


class TinyMobileNetV2(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (16, 24, 32),
                 expand: int = 4):
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w0, 3, 1, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU6())
        blocks, cin = [], w0
        for i, cout in enumerate(widths):
            blocks += [InvertedResidual(cin, cout, 1 if i == 0 else 2, expand), InvertedResidual(cout, cout, 1, expand)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, D) -> (B, N, D)
        b, n, _ = x.shape
        head_dim = self.qkv.out_features // (3 * self.num_heads)
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)  # (3, B, H, N, hd)
        q, k, v = qkv.unbind(0)
        # Explicit matmuls, not F.scaled_dot_product_attention: torch-pruning cannot trace through SDPA.
        weights = ((q @ k.transpose(-2, -1)) * head_dim**-0.5).softmax(dim=-1)  # (B, H, N, N)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, self.num_heads * head_dim))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, D)
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class TinyVisionTransformer(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 16, patch: int = 4,
                 dim: int = 32, depth: int = 2, num_heads: int = 4, mlp_ratio: int = 2):
        super().__init__()
        self.embed = nn.Conv2d(in_channels, dim, patch, patch)
        self.position = nn.Parameter(torch.zeros(1, (image_size // patch) ** 2, dim))
        self.blocks = nn.Sequential(*[TransformerBlock(dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.position  # (B, N, D)
        return self.head(self.norm(self.blocks(tokens)).mean(dim=1))


def tiny_mobilenet_v2(in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (16, 24, 32),
                      expand: int = 4, seed: int = 0) -> TinyMobileNetV2:
    torch.manual_seed(seed)
    return TinyMobileNetV2(in_channels, num_classes, tuple(widths), expand)


def tiny_vision_transformer(in_channels: int = 1, num_classes: int = 10, image_size: int = 16, patch: int = 4,
                            dim: int = 32, depth: int = 2, num_heads: int = 4, mlp_ratio: int = 2,
                            seed: int = 0) -> TinyVisionTransformer:
    torch.manual_seed(seed)
    return TinyVisionTransformer(in_channels, num_classes, image_size, patch, dim, depth, num_heads, mlp_ratio)
