"""The saliency technique: planning and cache keys, renderings, target classes, every architecture
family, hooks after failures, and on the real EfficientNet-Lite0: Grad-CAM on the object and the
model-randomisation test behaving as Adebayo et al. report."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from reportgen import models
from reportgen.attribution import gradients
from reportgen.models.hooks import hooks_left
from reportgen.models import ModelError
from reportgen.core.progress import Silent
from reportgen.core.artifacts import Skip
from reportgen.techniques.base import registry
from reportgen.attribution.methods import LayerMapCAM, colour_picture, gray_picture
from reportgen.techniques.cam_layers import cam_layer_for
from reportgen.techniques.saliency import METHODS

SALIENCY = registry()["saliency"]
SMALL = SALIENCY.Params(smoothgrad_samples=3, ig_steps=3, gradshap_samples=3, rise_masks=16, occlusion_window=8,
                        occlusion_stride=4, randomisation_stages=2, deletion_steps=4)


ROLLOUTS = ("rollout", "gradient_rollout")  # transformer-only: skipped on the tiny CNN
CONVOLUTIONAL = [m for m in METHODS if m not in ROLLOUTS]


def planned(params, card, images):
    return [r for r in SALIENCY.plan(params, card, images) if not isinstance(r, Skip)]


def run(params, model, card, images):
    requests = planned(params, card, images)
    return {(r.image.name, r.variant): result for r, result in SALIENCY.compute(params, model, requests, Silent())}


def test_plans_one_artifact_per_image_and_method_keyed_only_by_what_it_depends_on(tiny_card, images):
    skips = [r for r in SALIENCY.plan(SMALL, tiny_card, images) if isinstance(r, Skip)]
    assert [s.variant for s in skips] == list(ROLLOUTS) and all("self-attention" in s.reason for s in skips)
    requests = planned(SMALL, tiny_card, images)
    assert [(r.image.name, r.variant) for r in requests] == [(i.name, m) for i in images for m in CONVOLUTIONAL]
    specs = {r.variant: r.spec for r in requests[: len(CONVOLUTIONAL)]}
    assert "smoothgrad_samples" not in specs["vanilla"] and "cam_layer" not in specs["vanilla"]
    assert specs["gradcam"]["cam_layer"] == "features" and specs["smoothgrad"]["smoothgrad_samples"] == 3
    changed = planned(dataclasses.replace(SMALL, smoothgrad_samples=9), tiny_card, images)
    assert changed[0].spec == requests[0].spec and changed[5].spec != requests[5].spec
    quick = planned(SALIENCY.params_for("quick"), tiny_card, images)
    assert all("deletion_steps" not in r.spec for r in quick)  # sanity off: its fields stay out of the keys
    assert {r.variant for r in quick if "seed" in r.spec} == {"smoothgrad", "gradient_shap", "rise"}


def test_default_cam_layer_is_the_outermost_module_ending_with_the_last_feature_map(tiny_card):
    assert cam_layer_for(SMALL, tiny_card) == "features"  # features.5 (ReLU), widened to its Sequential
    assert cam_layer_for(dataclasses.replace(SMALL, cam_layer="features.2"), tiny_card) == "features.2"
    with pytest.raises(ModelError, match="no layer"):
        cam_layer_for(dataclasses.replace(SMALL, cam_layer="nope"), tiny_card)


def test_every_method_renders_at_the_images_aspect_with_its_raw_map(tiny, tiny_card, images):
    results = run(SMALL, tiny, tiny_card, images)
    for (name, method), result in results.items():
        width, height = next(i for i in images if i.name == name).size
        pictures = list(result.images.values())
        assert all(max(p.shape[:2]) == 320 for p in pictures)
        assert all(abs(p.shape[1] / p.shape[0] - width / height) < 0.01 for p in pictures)
        if method == "gradcam":
            assert set(result.images) == {"overlay"} and result.arrays["cam"].shape == (16, 16)
        elif isinstance(METHODS[method], LayerMapCAM) or method in ("rise", "occlusion"):  # kept at the input's size
            assert set(result.images) == {"overlay"} and result.arrays["attribution"].shape == (1, 32, 32)
            assert method == "occlusion" or (result.arrays["attribution"] >= 0).all()  # hiding a part can help
        else:
            assert set(result.images) == {"color", "gray"} and result.arrays["attribution"].shape == (3, 32, 32)
            assert np.isfinite(result.arrays["attribution"]).all() and np.abs(result.arrays["attribution"]).max() > 0
        meta = result.meta
        assert meta.class_name == tiny_card.category(meta.class_index) and meta.class_source == "top-1 prediction"
        assert len(meta.randomisation) == 2 and 0 <= meta.deletion_auc <= 1
    assert hooks_left(tiny.module) == 0


def test_seed_renderings():
    gradient = np.zeros((3, 10, 10))
    gradient[0, 0, 0], gradient[1, 5, 5], gradient[2, 9, 9] = -4.0, 2.0, 1.0
    colour = colour_picture(gradient)
    assert colour.shape == (10, 10, 3) and colour.min() == 0 and colour.max() == 255
    assert colour[5, 5, 1] == 255 and colour[0, 0, 0] == 0 and colour[3, 3, 0] == round(4 / 6 * 255)
    gray = gray_picture(gradient)  # max |g| over channels; the 99th percentile and above become white
    assert gray[0, 0] == 255 and gray[3, 3] == 0
    assert 0 < gray[9, 9] < gray[5, 5] <= 255


def test_pinned_labels_choose_the_class_explained(tiny, tiny_card, images):
    pinned = [dataclasses.replace(images[0], label="thing 7"), dataclasses.replace(images[1], label=2)]
    params = dataclasses.replace(SMALL, methods=("vanilla", "gradcam"), sanity=False)
    results = run(params, tiny, tiny_card, pinned)
    assert {r.meta.class_index for (n, _), r in results.items() if n == "a.png"} == {7}
    assert {r.meta.class_index for (n, _), r in results.items() if n == "b.png"} == {2}
    assert all(r.meta.class_source == "labels.json" for r in results.values())
    with pytest.raises(ModelError, match="a.png"):
        SALIENCY.plan(params, tiny_card, [dataclasses.replace(images[0], label="dragon")])


def test_an_images_maps_do_not_depend_on_its_batch(tiny, tiny_card, images):
    params = dataclasses.replace(SMALL, methods=("guided", "smoothgrad", "integrated_gradients", "scorecam", "ablationcam"),
                                 sanity=False, batch_size=3)  # Score-CAM's and Ablation-CAM's batches mix the images
    together = run(params, tiny, tiny_card, images)
    alone = run(params, tiny, tiny_card, images[1:])
    for key, result in alone.items():
        np.testing.assert_allclose(result.arrays["attribution"], together[key].arrays["attribution"], rtol=1e-4, atol=1e-7)


def test_hooks_are_gone_after_a_failure_inside_the_shared_pass(tiny, tiny_card, images, monkeypatch):
    def explode(*_args):
        raise RuntimeError("forced failure")

    monkeypatch.setattr(gradients, "class_scores", explode)
    with pytest.raises(RuntimeError, match="forced failure"):
        run(SMALL, tiny, tiny_card, images)
    assert hooks_left(tiny.module) == 0
    assert torch._C._len_torch_function_stack() == 0


def test_randomisation_never_touches_the_shared_model(tiny, tiny_card, images):
    before = {name: p.clone() for name, p in tiny.module.state_dict().items()}
    run(SMALL, tiny, tiny_card, images)
    assert all(torch.equal(before[name], p) for name, p in tiny.module.state_dict().items())


@pytest.mark.parametrize("name, unguided_calls", [("resnet18", 0), ("densenet121", 1)])
def test_works_on_residual_and_dense_architectures(name, unguided_calls, cache, images):
    """In-place ReLUs reused within a block (ResNet), a functional F.relu (DenseNet); untrained, at 64 px.
    (In-place ReLU6 modules: the EfficientNet-Lite0 tests below.)"""
    card = dataclasses.replace(models.card_for(name, "random", cache), input_size=64)
    model = models.load(card, "cpu")
    params = dataclasses.replace(SMALL, methods=("vanilla", "guided", "gradcam", "guided_gradcam"), sanity=False)
    results = run(params, model, card, images[:1])
    assert results[("a.png", "guided")].meta.unguided_calls == unguided_calls
    vanilla, guided = (results[("a.png", m)].arrays["attribution"] for m in ("vanilla", "guided"))
    scale = np.abs(vanilla).max()
    assert np.isfinite(vanilla).all() and scale > 0 and np.abs(vanilla - guided).max() > 0.01 * scale
    assert results[("a.png", "gradcam")].meta.cam_layer == {"resnet18": "layer4", "densenet121": "features"}[name]
    assert hooks_left(model.module) == 0


# --- the real, ImageNet-trained EfficientNet-Lite0 ----------------------------------------------------


def test_gradcam_maximum_lies_on_the_cat(lite0, samples):
    params = SALIENCY.Params(methods=("gradcam",), sanity=False)
    result = run(params, lite0, lite0.card, [samples["cat"]])[("cat.jpg", "gradcam")]
    assert "cat" in result.meta.class_name.lower()
    cam = result.arrays["cam"]
    row, column = np.unravel_index(cam.argmax(), cam.shape)
    # The cat fills the left and centre of the 451 x 300 photo; the right ~15% is background.
    assert (column + 0.5) / cam.shape[1] < 0.85


def test_randomising_the_weights_changes_vanilla_and_gradcam_more_than_guided_backprop(lite0, samples):
    params = SALIENCY.Params(methods=("vanilla", "guided", "gradcam"), randomisation_stages=2, deletion_steps=0)
    photos = [samples[name] for name in ("cat", "coffee", "rocket")]  # the thresholds were measured on these
    results = run(params, lite0, lite0.card, photos)

    def stage_means(method):
        stages = [r.meta.randomisation for (_, m), r in results.items() if m == method]
        return [np.mean([s[k].spearman or 0.0 for s in stages]) for k in range(2)]

    vanilla, guided, gradcam = stage_means("vanilla"), stage_means("guided"), stage_means("gradcam")
    assert guided[0] > 0.6  # guided backprop barely notices the top half of the network being random
    for stage in range(2):
        assert vanilla[stage] < guided[stage] and gradcam[stage] < guided[stage]
    assert vanilla[0] < guided[0] - 0.15 and gradcam[0] < guided[0] - 0.3
    assert vanilla[1] < 0.5 and gradcam[1] < 0.3


def test_gallery_section_shows_every_rendering_the_class_and_the_sanity_metrics(tmp_path):
    from helpers import config, write_inputs

    from reportgen.core.pipeline import build
    from reportgen.gallery.site import write_site

    write_inputs(tmp_path / "inputs")
    overrides = {"saliency": {"methods": ("vanilla", "guided", "gradcam"), "sanity": True,
                              "randomisation_stages": 2, "deletion_steps": 2}}
    settings = config(tmp_path, techniques=("saliency",), overrides=overrides)
    report = build(settings, Silent())
    write_site(report.manifest, settings.cache_dir, report.images, settings.out)
    page = (settings.out / "saliency.html").read_text()
    assert page.count("Original image") == 1 and page.count("Class explained") == 1
    for method, roles in {"vanilla": ("color", "gray"), "guided": ("color", "gray"), "gradcam": ("overlay",)}.items():
        for role in roles:
            assert page.count(f"saliency {method} {role}, tiny,") == 2  # one picture per input image
    assert page.count(", top-1 prediction</span>") == 2 and page.count("&rho;") >= 3 * 2 and "deletion" in page
    assert "layer <code>features</code>" in page
