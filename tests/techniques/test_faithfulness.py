"""The faithfulness technique on a model whose right answer is known: it sees red squares, so the
maps that point at the square must beat the random and centre maps, and the pointing game counts
hits against the boxes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from reportgen import models
from reportgen.images import InputImage, hash_pixels
from reportgen.progress import Silent
from reportgen.techniques.base import registry

FAITHFULNESS = registry()["faithfulness"]


class RedSquares(nn.Module):
    """Class 0 ('red square') grows with the area of strongly red pixels, wherever they are."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].weight[:, 0, 1, 1] = 2.0
            self.features[0].weight[:, 1:, 1, 1] = -1.0
            self.features[0].bias.fill_(-5.0)  # dark noise stays below: only strong red passes
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4, 2)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.tensor([[12.7] * 4, [0.0] * 4]))
            self.classifier.bias.copy_(torch.tensor([-6.0, 0.0]))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


models.register_local("red_squares", models.LocalModel(
    build=RedSquares, load_weights=None, weights_file=None, input_size=64, categories=lambda: ["red square", "other"]))


def square_on_noise(seed: int) -> InputImage:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 120, size=(64, 64, 3), dtype=np.uint8)
    x, y = rng.integers(2, 44, size=2)
    pixels[y:y + 16, x:x + 16] = (250, 10, 10)
    return InputImage(name=f"{seed}.png", pixels=pixels, pixel_hash=hash_pixels(pixels),
                      boxes=((float(x), float(y), float(x + 16), float(y + 16)),))


@pytest.fixture
def red(cache):
    card = models.card_for("red_squares", "pretrained", cache)
    return card, models.load(card, "cpu")


def test_maps_that_point_at_the_object_beat_both_baselines(red):
    card, model = red
    images = [square_on_noise(seed) for seed in range(6)]
    params = dataclasses.replace(FAITHFULNESS.params_for("quick"), methods=("vanilla", "gradcam", "smoothgrad"),
                                 randomisation=True, batch_size=4)
    (request,) = FAITHFULNESS.plan(params, card, images)
    assert request.image is None and len(request.spec["inputs"]) == 6 and len(request.spec["boxes"][0]) == 1
    ((_, result),) = list(FAITHFULNESS.compute(params, model, [request], Silent()))
    scores = result.meta["scores"]
    assert list(scores) == ["vanilla", "gradcam", "smoothgrad", "random", "centre"]
    assert result.meta["metrics"] == ["insertion", "deletion", "road_morf", "road_lerf", "randomisation", "pointing"]
    assert result.meta["pointing_images"] == 6 and result.arrays["scores"].shape == (5, 6)
    for method in ("gradcam", "vanilla"):
        for baseline in ("random", "centre"):
            assert scores[method]["insertion"] > scores[baseline]["insertion"] + 0.05
            assert scores[method]["deletion"] < scores[baseline]["deletion"] - 0.05
            assert scores[method]["road_morf"] < scores[baseline]["road_morf"]
            assert scores[method]["pointing"] > scores[baseline]["pointing"]
        assert scores[method]["pointing"] >= 5 / 6
    # A map that ignores the model is the same on a randomised one; these depend on the weights.
    assert scores["random"]["randomisation"] == pytest.approx(1.0)
    assert scores["gradcam"]["randomisation"] < 0.9


def test_the_pointing_game_agrees_with_a_count_by_hand(red):
    card, model = red
    images = [square_on_noise(seed) for seed in range(4)]
    params = dataclasses.replace(FAITHFULNESS.params_for("quick"), methods=("vanilla",), pointing_tolerance=0.0)
    (request,) = FAITHFULNESS.plan(params, card, images)
    ((_, result),) = list(FAITHFULNESS.compute(params, model, [request], Silent()))
    hits = 0
    for image in request.inputs:
        inputs = model.inputs([image.pixels]).requires_grad_(True)
        model.module(inputs)[0, 0].backward()
        row, column = np.unravel_index(int(inputs.grad[0].abs().amax(dim=0).argmax()), (64, 64))
        x0, y0, x1, y1 = image.boxes[0]
        hits += int(x0 <= column + 0.5 <= x1 and y0 <= row + 0.5 <= y1)
    assert result.meta["scores"]["vanilla"]["pointing"] == pytest.approx(hits / 4)


def test_keys_follow_the_images_boxes_and_settings(red):
    card, _ = red
    images = [square_on_noise(seed) for seed in range(3)]
    params = FAITHFULNESS.params_for("quick")
    (first,) = FAITHFULNESS.plan(params, card, images)
    (reordered,) = FAITHFULNESS.plan(params, card, images[::-1])
    assert first.spec == reordered.spec
    moved = [dataclasses.replace(images[0], boxes=((0.0, 0.0, 5.0, 5.0),))] + images[1:]
    assert FAITHFULNESS.plan(params, card, moved)[0].spec != first.spec
    assert FAITHFULNESS.plan(dataclasses.replace(params, steps=30), card, images)[0].spec != first.spec
    assert "batch_size" not in first.spec
