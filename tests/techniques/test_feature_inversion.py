import numpy as np
import pytest
import torch

from reportgen.core.artifacts import Request
from reportgen.models.hooks import forward_until
from reportgen.models import ModelError
from reportgen.optim.optimisers import gaussian_blur
from reportgen.core.progress import Silent
from reportgen.techniques.base import ParamError, registry
from reportgen.techniques.feature_maps import map_layers

from conftest import make_image

TECHNIQUE = registry()["feature_inversion"]


def smooth_image(side=48):
    """Shapes on a gradient: a photo-like input whose blurred copy still keeps something."""
    y, x = np.mgrid[0:side, 0:side] / side
    pixels = np.stack([x, y, 1 - x], axis=-1)
    pixels[side // 4: side // 2, side // 4: 3 * side // 4] = (0.9, 0.1, 0.1)
    pixels[2 * side // 3:, : side // 2] = (0.1, 0.8, 0.2)
    image = make_image("shapes.png", side, side)
    return type(image)(name="shapes.png", source=(pixels * 255).astype(np.uint8), pixel_hash="shapes" + "0" * 58)


def relative_distance(model, layer, pictures, target_pixels, blur=0.0):
    with torch.inference_mode():
        target = model.layer_maps(layer, forward_until(model.module, model.inputs([target_pixels]), [layer])[layer])[0]
        seen = model.to_tensor(pictures)
        seen = gaussian_blur(seen, blur) if blur else seen
        output = model.layer_maps(layer, forward_until(model.module, model.normalise(seen), [layer])[layer])
    return [float((o - target).norm() / target.norm()) for o in output]


def test_the_reconstruction_matches_the_features_better_than_a_blurred_copy(tiny):
    image = smooth_image()
    params = TECHNIQUE.params_for("quick", {"robust_steps": 100, "robust_lr": 0.2, "tv_weight": 0.05})
    requests = TECHNIQUE.plan(params, tiny.card, [image])
    assert [r.variant for r in requests] == list(map_layers(tiny.card))  # the feature maps' layers, early to late
    results = dict((r.variant, result) for r, result in TECHNIQUE.compute(params, tiny, requests, Silent()))
    for layer, result in results.items():
        picture = result.images["final"]
        assert picture.shape == (tiny.card.input_size, tiny.card.input_size, 3) and picture.std() > 1
        (reached,) = relative_distance(tiny, layer, [picture], image.pixels)
        (blurred,) = relative_distance(tiny, layer, [image.pixels], image.pixels, blur=params.reference_blur)
        assert reached < blurred, layer
        # the meta states the distance of the picture as saved, and the blurred yardstick
        assert result.meta.distance == pytest.approx(reached, abs=1e-3)
        assert result.meta.blurred_distance == pytest.approx(blurred, abs=1e-3)
        distances = result.arrays["distance"]
        assert distances[-1] < distances[0] < 2  # it descends
        assert result.meta.style == "robust" and TECHNIQUE.chaotic(result.meta)


def test_a_layer_without_a_map_or_unknown_stops_at_plan_time(tiny_card, images):
    with pytest.raises(ParamError, match="feature_inversion: tiny layer 'classifier' .* no feature map"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"layers": ("classifier",)}), tiny_card, images)
    with pytest.raises(ModelError, match="no layer 'zzz'"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"layers": ("zzz",)}), tiny_card, images)


def test_the_budget_shrinks_the_keyed_step_cap(lite0):
    image = make_image()
    generous = TECHNIQUE.plan(TECHNIQUE.params_for("standard", {"budget_s": 0.0}), lite0.card, [image])
    tight = TECHNIQUE.plan(TECHNIQUE.params_for("standard", {"budget_s": 0.5}), lite0.card, [image])
    assert all(isinstance(r, Request) for r in generous + tight)
    assert generous[0].spec["robust_steps"] == 200 > tight[0].spec["robust_steps"] >= 16
    assert [r.variant for r in generous] == list(map_layers(lite0.card))
