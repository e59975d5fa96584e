"""The factory reportgen.toml names (``factory = "shapes_net:build"``): the model's architecture,
whose trained weights train.py saves as a state dict."""
from torch import nn


def build() -> nn.Module:
    """A small CNN: three convolutions, global average pooling, one linear layer's output per class."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3),
    )
