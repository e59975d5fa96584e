"""Tiny models with known layouts for the probe, layout and skip tests: a ViT-like token model
(class token + row-major grid of patches, exactly 32 px, no convolution), a Swin-like channels-last
model, one whose windows need a size multiple and one with a minimum size. Importing this module
registers the first two as local models ``tiny_tokens`` and ``tiny_channels_last``."""
from __future__ import annotations

import torch
from torch import nn

from reportgen import models

SIZE, PATCH, DIM, CLASSES = 32, 8, 6, 5
GRID = SIZE // PATCH


class Mix(nn.Module):
    """Self-attention without projections: every token a softmax-weighted mean of all tokens."""

    def forward(self, x):
        weights = torch.softmax(x @ x.transpose(1, 2) / x.shape[-1] ** 0.5, dim=-1)
        return weights @ x


class TokenBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.mix, self.ln_2 = nn.LayerNorm(DIM), Mix(), nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def forward(self, x):
        x = x + self.mix(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TokenNet(nn.Module):
    """ViT in miniature: exactly 32 px, 8 px patches embedded by a Linear (no convolution), row by
    row, after a class token; two blocks; the head reads the class token alone."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3 * PATCH * PATCH, DIM)
        self.class_token = nn.Parameter(torch.randn(1, 1, DIM))
        self.tokens = nn.Identity()
        self.blocks = nn.Sequential(TokenBlock(), TokenBlock())
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        assert x.shape[-2:] == (SIZE, SIZE), f"expected {SIZE} x {SIZE} px"
        n = x.shape[0]
        patches = x.unfold(2, PATCH, PATCH).unfold(3, PATCH, PATCH)  # N, 3, rows, columns, p, p
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(n, GRID * GRID, 3 * PATCH * PATCH)
        tokens = self.tokens(torch.cat([self.class_token.expand(n, -1, -1), self.embed(patches)], dim=1))
        return self.head(self.blocks(tokens)[:, 0])


class Permute(nn.Module):
    def __init__(self, *order):
        super().__init__()
        self.order = order

    def forward(self, x):
        return x.permute(*self.order)


class ChannelsLastBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 12), nn.GELU(), nn.Linear(12, channels))

    def forward(self, x):
        return x + self.mlp(self.norm(x))


class ChannelsLastNet(nn.Module):
    """Swin in miniature: a convolution stem, then a stage of blocks on N x H x W x C."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.to_last = Permute(0, 2, 3, 1)
        self.stage = nn.Sequential(ChannelsLastBlock(8), ChannelsLastBlock(8))
        self.norm = nn.LayerNorm(8)
        self.to_first = Permute(0, 3, 1, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, CLASSES)

    def forward(self, x):
        x = self.to_first(self.norm(self.stage(self.to_last(self.stem(x)))))
        return self.head(self.pool(x).flatten(1))


class WindowNet(nn.Module):
    """Cuts its input into 8 x 8 windows: any size that is a multiple of 8."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.head = nn.Linear(4, CLASSES)

    def forward(self, x):
        n, c, h, w = x.shape
        windows = self.conv(x).view(n, 4, h // 8, 8, w // 8, 8)
        return self.head(windows.mean(dim=(2, 3, 4, 5)))


def minimum_net():
    """Two unpadded 5 x 5 convolutions: at least 9 px."""
    return nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.Conv2d(4, 4, 5), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, CLASSES))


def _local(build):
    return models.LocalModel(build=build, load_weights=None, weights_file=None, input_size=SIZE,
                             categories=lambda: [f"class {i}" for i in range(CLASSES)])


models.register_local("tiny_tokens", _local(TokenNet))
models.register_local("tiny_channels_last", _local(ChannelsLastNet))
