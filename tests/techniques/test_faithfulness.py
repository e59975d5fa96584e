"""The faithfulness technique on a model whose right answer is known: it sees red squares, so the
maps that point at the square must beat the random and centre maps, and the pointing game counts
hits against the boxes."""
from __future__ import annotations

import dataclasses
import json

import helpers
import numpy as np
import pytest
import torch
from torch import nn

from PIL import Image

from reportgen import models
from reportgen.core.artifacts import Request
from reportgen.interface.overrides import parse_overrides
from reportgen.pictures.images import InputImage, hash_pixels
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.techniques.base import Context, registry
from reportgen.techniques.saliency import SaliencyRequest

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
    return InputImage(name=f"{seed}.png", source=pixels, pixel_hash=hash_pixels(pixels),
                      boxes=((float(x), float(y), float(x + 16), float(y + 16)),))


def inputs_folder(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for seed in range(count):
        image = square_on_noise(seed)
        Image.fromarray(image.pixels).save(folder / image.name)
        boxes[image.name] = list(image.boxes[0])
    (folder / "boxes.json").write_text(json.dumps(boxes))
    return folder


def built(tmp_path, count, *settings):
    overrides = parse_overrides(["saliency.methods=vanilla,gradcam,smoothgrad", "saliency.sanity=true",
                                 "saliency.randomisation_stages=1", "saliency.deletion_steps=0", *settings], registry())
    config = helpers.config(tmp_path, input_dir=inputs_folder(tmp_path / "inputs", count), models=("red_squares",),
                            techniques=("faithfulness",), overrides=overrides)
    return build(config, Silent())


def test_maps_that_point_at_the_object_beat_both_baselines(tmp_path):
    report = built(tmp_path, 6, "faithfulness.batch_size=4")
    assert not report.errors
    # Saliency's maps were computed for it, but only the faithfulness artifact is shown.
    assert {a.technique for a in report.manifest.artifacts} == {"predictions", "faithfulness"}
    (artifact,) = [a for a in report.manifest.artifacts if a.technique == "faithfulness"]
    scores = artifact.meta.scores
    assert artifact.meta.methods == ("vanilla", "gradcam", "smoothgrad", "random", "centre")
    assert artifact.meta.metrics == ("insertion", "deletion", "road_morf", "road_lerf", "randomisation", "pointing")
    assert artifact.meta.pointing_images == 6
    for method in ("gradcam", "vanilla"):
        for baseline in ("random", "centre"):
            assert scores[method]["insertion"] > scores[baseline]["insertion"] + 0.05
            assert scores[method]["deletion"] < scores[baseline]["deletion"] - 0.05
            assert scores[method]["road_morf"] < scores[baseline]["road_morf"]
            assert scores[method]["pointing"] > scores[baseline]["pointing"]
        assert scores[method]["pointing"] >= 5 / 6
    # A map made without the model is the same on a randomised one; these depend on the weights.
    assert scores["random"]["randomisation"] == pytest.approx(1.0)
    assert scores["gradcam"]["randomisation"] < 0.9 and scores["vanilla"]["randomisation"] < 0.9
    again = built(tmp_path, 6, "faithfulness.batch_size=4")
    assert again.computed == 0  # every map and score came from the cache


def test_the_pointing_game_agrees_with_a_count_by_hand(tmp_path, cache):
    report = built(tmp_path, 4, "faithfulness.methods=vanilla", "faithfulness.pointing_tolerance=0")
    (artifact,) = [a for a in report.manifest.artifacts if a.technique == "faithfulness"]
    model = models.load(models.card_for("red_squares", "pretrained", cache), "cpu")
    hits = 0
    for seed in range(4):
        image = square_on_noise(seed)
        inputs = model.inputs([image.pixels]).requires_grad_(True)
        model.module(inputs)[0, 0].backward()
        row, column = np.unravel_index(int(inputs.grad[0].abs().amax(dim=0).argmax()), (64, 64))
        x0, y0, x1, y1 = image.boxes[0]
        hits += int(x0 <= column + 0.5 <= x1 and y0 <= row + 0.5 <= y1)
    assert artifact.meta.scores["vanilla"]["pointing"] == pytest.approx(hits / 4)


def test_keys_follow_the_maps_boxes_and_settings(cache):
    card = models.card_for("red_squares", "pretrained", cache)
    images = [square_on_noise(seed) for seed in range(3)]
    upstream = tuple((Request(m, SaliencyRequest(m, False), image), f"{m}-{image.pixel_hash}")
                     for image in images for m in ("vanilla", "gradcam"))
    params = FAITHFULNESS.params_for("quick")
    (first,) = FAITHFULNESS.plan(params, card, images, Context(upstream))
    assert first.spec["methods"] == ["vanilla", "gradcam"]  # the methods saliency makes
    (reordered,) = FAITHFULNESS.plan(params, card, images[::-1], Context(upstream[::-1]))
    assert first.spec == reordered.spec and first.reads == reordered.reads
    moved = [dataclasses.replace(images[0], boxes=((0.0, 0.0, 5.0, 5.0),))] + images[1:]
    assert FAITHFULNESS.plan(params, card, moved, Context(upstream))[0].spec != first.spec
    other = tuple((request, key + "x") for request, key in upstream)
    read_other = FAITHFULNESS.plan(params, card, images, Context(other))[0]
    assert read_other.reads != first.reads and read_other.spec == first.spec  # keyed, not a parameter
    assert FAITHFULNESS.plan(dataclasses.replace(params, steps=30), card, images, Context(upstream))[0].spec != first.spec
    assert "batch_size" not in first.spec


def test_the_page_says_why_proportional_maps_score_alike_and_each_input_page_shows_its_scores(tmp_path):
    from reportgen.gallery.site import write_site

    overrides = parse_overrides(["saliency.methods=smoothgrad,gradcam,hirescam", "saliency.sanity=false"], registry())
    config = helpers.config(tmp_path, input_dir=inputs_folder(tmp_path / "inputs", 3), models=("red_squares",),
                            techniques=("saliency", "faithfulness"), overrides=overrides)
    report = build(config, Silent())
    assert not report.errors
    (artifact,) = [a for a in report.manifest.artifacts if a.technique == "faithfulness"]
    # The CAM layer feeds global average pooling directly: Grad-CAM's and HiResCAM's maps are proportional.
    assert artifact.meta.proportional == (("gradcam", "hirescam"),) and artifact.meta.cam_feeds_pooling
    assert artifact.meta.per_image["gradcam"] == artifact.meta.per_image["hirescam"]
    assert all(len(values) == 3 for values in artifact.meta.per_image["smoothgrad"].values())
    write_site(report.manifest, config.cache_dir, report.images, config.out)
    page = (config.out / "faithfulness.html").read_text()
    assert "Grad-CAM and HiResCAM</strong> give maps equal up to a constant factor" in page
    assert "global average pooling directly" in page and "3 images" in page and "indicative only" in page
    first = report.manifest.images[0]
    scores = artifact.meta.per_image["smoothgrad"]["insertion"][0]
    input_page = (config.out / "images" / f"{first.id}.html").read_text()
    assert input_page.count("faithfulness on this input") == 3  # one line under each method's map
    assert f"Insertion ↑ {scores:.3f}" in input_page
