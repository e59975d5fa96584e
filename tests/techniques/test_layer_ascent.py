import io

import numpy as np
import pytest
from PIL import Image

from reportgen.pictures import render
from reportgen.models.hooks import hooks_left
from reportgen.core.progress import Silent
from reportgen.techniques.base import ParamError, registry

TECHNIQUE = registry()["layer_ascent"]


def _run(model, images=(), **changes):
    params = TECHNIQUE.params_for("quick", changes)
    requests = TECHNIQUE.plan(params, model.card, list(images))
    return params, {request.variant: result for request, result in TECHNIQUE.compute(params, model, requests, Silent())}


def test_default_units_seed_for_vgg16_and_by_depth_elsewhere(tiny_card, lite0):
    params = TECHNIQUE.params_for("standard")
    vgg = type("Card", (), {"name": "vgg16"})()
    assert TECHNIQUE.units_for(params, vgg) == [("features.12", 5), ("features.24", 25)]
    units = TECHNIQUE.units_for(params, lite0.card)
    assert len(units) == 2
    for layer, filter_index in units:
        assert lite0.card.layer(layer).type == "Conv2d" and filter_index < lite0.card.layer(layer).channels
    # tiny: convs features.0 (8 ch), .2 (16), .4 (16): the seed's 5 and 25 wrap to fit
    assert TECHNIQUE.units_for(params, tiny_card) == [("features.2", 5), ("features.4", 9)]


def test_units_from_the_command_line_are_checked(tiny_card):
    params = TECHNIQUE.params_for("quick", {"units": ("features.2:3",), "styles": ("robust",)})
    (request,) = TECHNIQUE.plan(params, tiny_card, [])
    assert request.variant == "features.2:3/robust" and request.spec["filter"] == 3
    with pytest.raises(ParamError, match="16 filters"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"units": ("features.2:16",)}), tiny_card, [])
    with pytest.raises(ParamError, match="layer:filter"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"units": ("features.2",)}), tiny_card, [])


@pytest.mark.parametrize("regulariser", ["none", "l1", "l2"])
def test_activation_rises_with_every_regulariser(tiny, regulariser):
    _, results = _run(tiny, regulariser=regulariser, steps=10, frames=4)
    assert len(results) == 4
    for variant, result in results.items():
        objective = result.arrays["objective"]
        assert objective[-1] > objective[0], variant
    assert hooks_left(tiny.module) == 0


def test_gif_frames_are_deterministic_and_loop(tiny):
    _, first = _run(tiny, frames=4)
    _, again = _run(tiny, frames=4)
    for variant, result in first.items():
        frames = result.animations["gif"]
        assert len(frames) == 4
        assert all(np.array_equal(a, b) for a, b in zip(frames, again[variant].animations["gif"]))
        gif = Image.open(io.BytesIO(render.gif_bytes(frames)))
        assert gif.n_frames == 4 and gif.info["loop"] == 0


def test_real_filter_activation_keeps_growing(lite0):
    _, results = _run(lite0, steps=12, frames=3, height=64, width=64)
    assert len(results) == 4
    for variant, result in results.items():
        at_frames = result.arrays["score"]  # after 4, 8 and 12 steps
        assert result.meta.final_activation > at_frames[0], variant
        if variant.endswith("naive"):
            assert at_frames[0] < at_frames[1] < at_frames[2], variant


def test_gallery_section_has_a_row_per_unit_and_a_gif_per_style(tmp_path):
    from helpers import config, write_inputs

    from reportgen.core.pipeline import build
    from reportgen.gallery.site import write_site

    write_inputs(tmp_path / "inputs")
    settings = config(tmp_path, techniques=("layer_ascent",), overrides={"layer_ascent": {"steps": 2, "frames": 2}})
    report = build(settings, Silent())
    write_site(report.manifest, settings.cache_dir, report.images, settings.out)
    page = (settings.out / "layer_ascent.html").read_text()
    assert "layer=<code>features.2</code>, filter=5" in page and "layer=<code>features.4</code>, filter=9" in page
    assert page.count("layer_ascent features.4:9/robust gif, tiny") == 1
    assert page.count("Robust (Fourier") == 1 and page.count('class="caption">') >= 4
    assert page.count("layer_ascent features.4:9/examples examples, tiny") == 1 and "peak over the inputs" in page

    settings = config(tmp_path, techniques=("layer_ascent",), out=tmp_path / "bare",
                      overrides={"layer_ascent": {"steps": 2, "frames": 2, "examples": 0}})
    report = build(settings, Silent())
    write_site(report.manifest, settings.cache_dir, report.images, settings.out)
    bare = (settings.out / "layer_ascent.html").read_text()
    assert "Input patches" not in bare and bare.count("layer_ascent features.4:9/robust gif, tiny") == 1


def test_examples_are_keyed_by_every_input_and_the_visualisations_by_none(tiny_card, images):
    from reportgen.pictures.images import InputImage, hash_pixels

    params = TECHNIQUE.params_for("quick")
    requests = TECHNIQUE.plan(params, tiny_card, images)
    examples = [r for r in requests if r.variant.endswith("/examples")]
    assert len(examples) == 2 and all(r.inputs == tuple(images) and r.image is None for r in examples)
    assert examples[0].spec["inputs"] == sorted(image.pixel_hash for image in images)
    changed = images[0].pixels.copy()
    changed[0, 0] ^= 1
    other = [InputImage(images[0].name, changed, hash_pixels(changed)), images[1]]
    replanned = TECHNIQUE.plan(params, tiny_card, other)
    for before, after in zip(requests, replanned):
        assert (before.spec == after.spec) == ("style" in before.spec), before.variant
    assert [r.variant for r in TECHNIQUE.plan(params, tiny_card, [])] == [r.variant for r in requests if "style" in r.spec]
    assert not [r for r in TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"examples": 0}), tiny_card, images)
                if "style" not in r.spec]


def test_examples_are_the_strongest_patches_of_the_inputs(tiny, images):
    from reportgen.techniques.layer_ascent import channel_maps

    params, results = _run(tiny, images, examples=3, styles=("robust",))
    result = results["features.2:5/examples"]
    maps = channel_maps(tiny, [image.pixels for image in images], "features.2", 5, tiny.card.input_size)
    assert result.meta.input_peak == pytest.approx(max(float(m.max()) for m in maps), rel=1e-5)
    found = result.meta.examples
    assert len(found) == 3 and found[0].activation == pytest.approx(result.meta.input_peak, rel=1e-5)
    assert [e.activation for e in found] == sorted((e.activation for e in found), reverse=True)
    names = {image.name: image for image in images}
    for example in found:
        left, top, right, bottom = example.box
        height, width = names[example.image].pixels.shape[:2]
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert result.images["examples"].shape[0] == 64 and result.images["examples"].shape[1] == 3 * 64 + 2 * 2
    visualisation = results["features.2:5/robust"]
    assert visualisation.meta.final_peak >= visualisation.meta.final_activation
