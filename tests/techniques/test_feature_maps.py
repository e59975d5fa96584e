import numpy as np

from reportgen.core.progress import Silent
from reportgen.techniques.base import registry

TECHNIQUE = registry()["feature_maps"]


def test_plans_one_artifact_per_layer_and_image_with_seed_layers_for_vgg(tiny_card, images):
    params = TECHNIQUE.params_for("standard")
    requests = TECHNIQUE.plan(params, tiny_card, images)
    assert len(requests) == 3 * len(images)
    assert requests[0].spec == {"channels": 8, "columns": 8, "layer": "features.1"}
    vgg_like = type("Card", (), {"name": "vgg16"})()
    assert TECHNIQUE.layers_for(params, vgg_like) == ("features.1", "features.6", "features.15", "features.29")


def test_grid_shows_each_channel_scaled_to_its_own_range(tiny, tiny_card, images):
    params = TECHNIQUE.params_for("standard", {"layers": ("features.0",), "columns": 4})
    results = dict((r.image.name, res) for r, res in TECHNIQUE.compute(params, tiny, TECHNIQUE.plan(params, tiny_card, images), Silent()))
    grid = results["a.png"].images["grid"]
    activations = results["a.png"].arrays["activations"]
    assert activations.shape == (8, 32, 32)
    # 32 px channels are enlarged twice (pixel-exact) so that small maps stay visible
    assert grid.shape == (2 * 64 + 1, 4 * 64 + 3)
    assert grid[:64, :64].min() == 0 and grid[:64, :64].max() == 255


def test_feature_maps_of_a_real_photo_are_not_blank(lite0, samples):
    params = TECHNIQUE.params_for("quick")
    requests = TECHNIQUE.plan(params, lite0.card, [samples["cat"]])
    for request, result in TECHNIQUE.compute(params, lite0, requests, Silent()):
        activation = result.arrays["activations"]
        assert np.isfinite(activation).all()
        lively = [channel.std() > 1e-3 for channel in activation]
        assert sum(lively) >= len(lively) // 2, request.variant
        assert result.images["grid"].std() > 10
