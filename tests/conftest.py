"""Shared fixtures: a tiny CNN registered as a local model, small images, the real embedded model."""
from __future__ import annotations

import os
from pathlib import Path

# OpenMP threads that spin while waiting starve each other when tests (and their subprocesses)
# share two cores: measured 68-92 s for one lite0 test with spinning threads, 4 s with passive ones.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
import torch
from torch import nn

from reportgen import models
from reportgen.core.cache import Cache
from helpers import fresh_urllib
from reportgen.pictures.images import InputImage, hash_pixels
from reportgen.pictures.input_folder import load_folder

INPUTS = Path(__file__).resolve().parent.parent / "inputs"
TINY_CLASSES = 10


class TinyNet(nn.Module):
    """Conv/ReLU (in-place), conv/ReLU6, a residual add and a linear head: the shapes that matter."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU6(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(16, TINY_CLASSES)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


models.register_local(
    "tiny",
    models.LocalModel(build=TinyNet, load_weights=None, weights_file=None, input_size=32,
                      categories=lambda: [f"thing {i}" for i in range(TINY_CLASSES)]),
)


@pytest.fixture(autouse=True)
def _outside_the_checkout(tmp_path, monkeypatch):
    """Every test runs in its own folder: the checkout's reportgen.toml (the showcase's settings)
    must not reach a test, and no test may write into the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def offline(monkeypatch):
    """No route to any download host, whatever this machine's network: every URL goes through a
    proxy on a closed loopback port, so torch.hub's download is refused at once."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    fresh_urllib(monkeypatch)


@pytest.fixture
def cache(tmp_path) -> Cache:
    cache = Cache(tmp_path / "cache")
    cache.claim()  # as a build does: a build on the same folder adopts it
    return cache


@pytest.fixture
def tiny_card(cache):
    return models.card_for("tiny", "pretrained", cache)


@pytest.fixture
def tiny(tiny_card):
    return models.load(tiny_card, "cpu")


def make_image(name: str = "noise.png", width: int = 48, height: int = 40, seed: int = 0) -> InputImage:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return InputImage(name=name, source=pixels, pixel_hash=hash_pixels(pixels))


@pytest.fixture
def images():
    return [make_image("a.png", 48, 40, 0), make_image("b.png", 40, 48, 1)]


@pytest.fixture(scope="session")
def samples():
    loaded, skipped = load_folder(INPUTS)
    assert not skipped
    return {image.name.split(".")[0]: image for image in loaded}


@pytest.fixture(scope="session")
def lite0(tmp_path_factory):
    """The embedded, really trained EfficientNet-Lite0 (loaded once per test session)."""
    cache = Cache(tmp_path_factory.mktemp("cache"))
    torch.set_num_threads(2)
    return models.load(models.card_for("efficientnet_lite0", "pretrained", cache), "cpu")
