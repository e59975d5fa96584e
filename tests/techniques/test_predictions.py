from reportgen.core.progress import Silent
from reportgen.techniques.base import registry

TECHNIQUE = registry()["predictions"]
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


def test_top5_are_sorted_probabilities(tiny, tiny_card, images):
    params = TECHNIQUE.params_for("standard")
    for _, result in TECHNIQUE.compute(params, tiny, TECHNIQUE.plan(params, tiny_card, images), Silent()):
        top = result.meta.top
        assert len(top) == 5
        probabilities = [p.probability for p in top]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001


def test_embedded_model_sees_the_cat_and_the_coffee(lite0, samples):
    params = TECHNIQUE.params_for("standard")
    chosen = [samples["cat"], samples["coffee"]]
    results = {r.image.name: res.meta.top for r, res in TECHNIQUE.compute(params, lite0, TECHNIQUE.plan(params, lite0.card, chosen), Silent())}
    assert results["cat.jpg"][0].class_name in CAT_CLASSES
    assert results["coffee.jpg"][0].class_name in {"espresso", "cup", "coffee mug"}
