import numpy as np

from reportgen.core.progress import Silent
from reportgen.techniques.base import registry

TECHNIQUE = registry()["filters"]


def test_first_conv_is_an_rgb_mosaic_and_a_deeper_one_a_gray_grid(tiny, tiny_card):
    params = TECHNIQUE.params_for("standard")
    requests = TECHNIQUE.plan(params, tiny_card, [])
    assert [(r.variant, r.spec["rgb"]) for r in requests] == [("features.0.weight", True), ("features.4.weight", False)]
    results = {r.variant: res for r, res in TECHNIQUE.compute(params, tiny, requests, Silent())}
    mosaic = results["features.0.weight"].images["filters"]
    assert mosaic.ndim == 3 and mosaic.shape[2] == 3
    gray = results["features.4.weight"].images["filters"]
    assert gray.ndim == 2
    np.testing.assert_array_equal(results["features.0.weight"].arrays["weights"],
                                  tiny.module.features[0].weight.numpy())


def test_seed_parameters_for_the_seed_models():
    params = TECHNIQUE.params_for("standard")
    resnet = type("Card", (), {"name": "resnet50"})()
    assert TECHNIQUE.parameters_for(params, resnet) == ("conv1.weight", "layer1.1.conv2.weight")


def test_real_first_layer_filters_are_not_noise(lite0):
    params = TECHNIQUE.params_for("standard")
    request = TECHNIQUE.plan(params, lite0.card, [])[0]
    (_, result), = TECHNIQUE.compute(params, lite0, [request], Silent())
    weights = result.arrays["weights"]
    # trained 3x3 stem filters are smooth: neighbouring weights correlate, unlike random init
    left, right = weights[..., :, :-1].ravel(), weights[..., :, 1:].ravel()
    assert np.corrcoef(left, right)[0, 1] > 0.2
