"""Deep Dream: the dream raises its objective, keeps the input's size, is seeded, and the octave
method is not the simple one in disguise. On the tiny net and on the real EfficientNet-Lite0."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from reportgen.pictures import render
from reportgen.models.hooks import forward_until, hooks_left
from reportgen.pictures.images import InputImage, hash_pixels
from reportgen.core.choices import ChoiceError, ParamError
from reportgen.core.progress import Silent
from reportgen.techniques.deep_dream import DeepDream, deep_layer, octave_sizes, working_size

TECHNIQUE = DeepDream()


def dream(model, images, preset="quick", **overrides):
    params = TECHNIQUE.params_for(preset, overrides)
    requests = TECHNIQUE.plan(params, model.card, images)
    results = list(TECHNIQUE.compute(params, model, requests, Silent()))
    assert sorted(map(id, (request for request, _ in results))) == sorted(map(id, requests))
    return {(r.spec["method"], r.spec["objective"], r.image.name): (r, result) for r, result in results}


def measured_objective(model, pixels, spec, size):
    """The objective recomputed from a uint8 picture, independently of the technique's code."""
    with torch.inference_mode():
        output = forward_until(model.module, model.inputs([pixels], size), [spec["layer"]])[spec["layer"]][0]
    chosen = output[spec["filter"]] if spec["objective"] == "one_channel" else output
    return float(chosen.mean() if spec["method"] == "simple" else chosen.norm())


def assert_raises_objective(model, results):
    for request, result in results.values():
        size = working_size(request.image.pixels.shape[:2], request.spec["working_side"])
        before = measured_objective(model, request.image.pixels, request.spec, size)
        after = measured_objective(model, result.images["dream"], request.spec, size)
        assert after > before, (request.variant, request.image.name, before, after)
        assert result.meta.objective_after > result.meta.objective_before
        assert result.meta.objective_before == pytest.approx(before, rel=1e-4, abs=1e-5)


def test_tiny_dream_raises_objective_and_keeps_size(tiny, images):
    rng = np.random.default_rng(2)
    square = rng.integers(0, 256, size=(36, 36, 3), dtype=np.uint8)
    # Photo-like (smooth): pure noise would lose its fine grain in the resize to 64 px and back.
    large = render.resize(rng.integers(0, 256, size=(7, 10, 3), dtype=np.uint8), (100, 70))
    extra = [InputImage("square.png", square, hash_pixels(square)), InputImage("large.png", large, hash_pixels(large))]
    results = dream(tiny, [*images, *extra])  # quick: a 64 px working size, so large.png is resized
    assert len(results) == 4 * 4
    assert_raises_objective(tiny, results)
    for request, result in results.values():
        picture = result.images["dream"]
        assert picture.shape == request.image.pixels.shape and picture.dtype == np.uint8
        assert np.isfinite(result.arrays["objective"]).all()
        assert np.isfinite([result.meta.objective_before, result.meta.objective_after]).all()
    assert hooks_left(tiny.module) == 0


def test_same_seed_same_dream_other_seed_other_dream(tiny, images):
    first = dream(tiny, images, jitter=3, seed=1)
    again = dream(tiny, images, jitter=3, seed=1)
    other = dream(tiny, images, jitter=3, seed=2)
    for key, (_, result) in first.items():
        assert np.array_equal(result.images["dream"], again[key][1].images["dream"])
        assert np.array_equal(result.arrays["objective"], again[key][1].arrays["objective"])
    assert any(not np.array_equal(r.images["dream"], other[k][1].images["dream"]) for k, (_, r) in first.items())


def test_octave_method_differs_from_simple(tiny, images):
    results = dream(tiny, images)
    for objective in ("one_channel", "all_channels"):
        for image in images:
            simple = results[("simple", objective, image.name)][1]
            octaves = results[("octaves", objective, image.name)][1]
            assert simple.meta.octaves == 1 and octaves.meta.octaves > 1
            assert np.abs(simple.images["dream"].astype(int) - octaves.images["dream"].astype(int)).mean() > 1


def test_octave_gif_has_a_frame_per_octave_at_output_size(tiny, images):
    results = dream(tiny, images[:1], methods=("octaves", "simple"), objectives=("all_channels",), gif=True)
    octaves = results[("octaves", "all_channels", images[0].name)][1]
    frames = octaves.animations["octaves"]
    assert len(frames) == octaves.meta.octaves > 1
    assert all(frame.shape == images[0].pixels.shape for frame in frames)
    assert np.array_equal(frames[-1], octaves.images["dream"])
    assert not results[("simple", "all_channels", images[0].name)][1].animations


def test_plan_keys_only_what_each_method_reads(tiny_card, images):
    params = TECHNIQUE.params_for("standard")
    requests = TECHNIQUE.plan(params, tiny_card, images)
    assert len(requests) == 2 * 2 * len(images)
    for request in requests:
        spec = request.spec
        assert spec["layer"] == deep_layer(tiny_card)
        assert ("filter" in spec) == (spec["objective"] == "one_channel")
        if spec["method"] == "simple":
            assert "learning_rate" in spec and "octave_scale" not in spec
        else:
            assert "octave_scale" in spec and "learning_rate" not in spec
        assert "batch_pixels" not in spec and "methods" not in spec
    one_channel = [r for r in requests if r.spec["objective"] == "one_channel"][0]
    assert one_channel.spec["filter"] == tiny_card.layer(deep_layer(tiny_card)).channels - 1  # 45 clipped
    more_octaves = TECHNIQUE.plan(dataclasses.replace(params, octaves=7), tiny_card, images)
    assert [r.spec for r in more_octaves if r.spec["method"] == "simple"] == [
        r.spec for r in requests if r.spec["method"] == "simple"
    ]


def test_defaults_follow_the_seed_and_bad_choices_are_explained(tiny_card, images):
    assert TECHNIQUE.layer_for(TECHNIQUE.Params(), dataclasses.replace(tiny_card, name="vgg19")) == "features.34"
    assert TECHNIQUE.filter_for(TECHNIQUE.Params(), 512) == 45
    full = TECHNIQUE.params_for("full")
    assert (full.steps, full.learning_rate, full.weight_decay) == (200, 0.1, 1e-6)
    assert (full.octave_scale, full.octave_steps) == (1.4, 20) and full.octaves >= 10
    with pytest.raises(ParamError, match="out of range"):
        TECHNIQUE.plan(TECHNIQUE.Params(filter=16), tiny_card, images)
    with pytest.raises(ChoiceError, match="valid: simple, octaves"):
        TECHNIQUE.plan(TECHNIQUE.Params(methods=("fast",)), tiny_card, images)


def test_pyramid_stops_before_octaves_get_too_small():
    sizes = octave_sizes((224, 336), octaves=10, scale=1.4, min_side=32)
    assert sizes[-1] == (224, 336)
    assert min(sizes[0]) >= 32 and round(min(sizes[0]) / 1.4) < 32  # one more would be too small
    assert len(sizes) == 6
    assert octave_sizes((20, 30), octaves=10, scale=1.4, min_side=32) == [(20, 30)]
    assert working_size((300, 451), 320) == (213, 320) and working_size((40, 48), None) == working_size((40, 48), 64) == (40, 48)


def test_lite0_dream_raises_objective_on_real_photos(lite0, samples):
    cat = samples["cat"]
    square_pixels = np.ascontiguousarray(cat.pixels[:, :300])
    square = InputImage("square.png", square_pixels, hash_pixels(square_pixels))
    results = dream(lite0, [cat, square], working_side=96, steps=3, octaves=3, octave_steps=2, min_octave_side=32)
    assert_raises_objective(lite0, results)
    for request, result in results.values():
        assert result.images["dream"].shape == request.image.pixels.shape
        assert result.meta.layer == deep_layer(lite0.card)
    assert hooks_left(lite0.module) == 0


def test_default_layer_is_an_outermost_block_two_thirds_deep_with_room_left(tiny_card):
    from reportgen.models import LayerInfo

    def block(name, channels, side):
        return [LayerInfo(name, "Block", channels, (side, side)), LayerInfo(f"{name}.conv", "Conv2d", channels, (side, side)),
                LayerInfo(f"{name}.act", "ReLU", channels, (side, side)), LayerInfo(f"{name}.se", "SqueezeExcite", channels, (side, side)),
                LayerInfo(f"{name}.se.fc", "Conv2d", channels, (1, 1))]

    layers = [LayerInfo("stem", "Conv2d", 8, (32, 32)), LayerInfo("stage", "Sequential", 64, (4, 4)),
              *block("stage.0", 16, 16), *block("stage.1", 32, 8), *block("stage.2", 64, 8), *block("stage.3", 64, 4)]
    card = dataclasses.replace(tiny_card, layers=tuple(layers))
    assert deep_layer(card) == "stage.1"  # of stage.0..2 (stage.3 is 4 px; the .se blocks are nested)
    without_blocks = dataclasses.replace(card, layers=tuple(l for l in layers if l.type not in ("Block", "SqueezeExcite")))
    assert deep_layer(without_blocks) == "stage.1.act"  # activations instead, the same 2/3 rule
    assert deep_layer(tiny_card) == "features.3"

