import io

import numpy as np
import pytest
from PIL import Image

from reportgen.pictures import render
from reportgen.core.progress import Silent
from reportgen.techniques.base import ParamError, registry

TECHNIQUE = registry()["class_ascent"]


def _run(model, **changes):
    params = TECHNIQUE.params_for("quick", changes)
    requests = TECHNIQUE.plan(params, model.card, [])
    return params, {request.variant: result for request, result in TECHNIQUE.compute(params, model, requests, Silent())}


def test_default_plan_is_the_seeds_classes_by_regulariser_by_style(lite0):
    params = TECHNIQUE.params_for("standard")
    requests = TECHNIQUE.plan(params, lite0.card, [])
    assert [r.variant for r in requests[:6]] == ["52/none/naive", "52/none/robust", "52/l1/naive",
                                                 "52/l1/robust", "52/l2/naive", "52/l2/robust"]
    assert sorted({r.spec["class_index"] for r in requests}) == [52, 77, 231] and len(requests) == 18
    l1_naive = requests[2].spec
    # a run's key holds only its own lambda and learning rate
    assert "l1_weight" in l1_naive and "l2_weight" not in l1_naive
    assert "lr" in l1_naive and "robust_lr" not in l1_naive and "classes" not in l1_naive


def test_classes_by_name_and_bad_choices(tiny_card, lite0):
    params = TECHNIQUE.params_for("quick", {"classes": ("wolf spider", "52"), "regularisers": ("l2",), "styles": ("naive",)})
    assert [r.variant for r in TECHNIQUE.plan(params, lite0.card, [])] == ["77/l2/naive", "52/l2/naive"]
    # a model with fewer classes than the seed's numbers gets classes spread over its own range
    assert TECHNIQUE.classes_for(TECHNIQUE.params_for("quick"), tiny_card) == [0, 4, 9]
    with pytest.raises(ParamError, match="valid: none, l1, l2"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"regularisers": ("l3",)}), tiny_card, [])
    with pytest.raises(ParamError, match="valid: naive, robust"):
        TECHNIQUE.plan(TECHNIQUE.params_for("quick", {"styles": ("fancy",)}), tiny_card, [])


def test_objective_rises_and_penalties_shrink_the_image(tiny):
    params, results = _run(tiny, classes=("3",), steps=12, robust_steps=12, frames=4)
    assert len(results) == 6
    for variant, result in results.items():
        objective = result.arrays["objective"]
        assert objective.shape == (4,)
        assert objective[-1] > objective[0], variant
        assert 0.0 <= result.meta.probability <= 1.0
    for style in ("naive", "robust"):
        free = _input_norm(tiny, results[f"3/none/{style}"].images["final"])
        for regulariser in ("l1", "l2"):
            assert _input_norm(tiny, results[f"3/{regulariser}/{style}"].images["final"]) < free, (style, regulariser)


def _input_norm(model, picture):
    pixels = picture.astype(np.float64) / 255
    return float(np.abs((pixels - np.array(model.card.mean)) / np.array(model.card.std)).mean())


def test_frames_are_deterministic_and_do_not_depend_on_the_batch(tiny):
    """Independence is checked exactly where it is exact by design: with the batch's shape fixed,
    every kernel computes each image with the same instructions, so changing the *other* images'
    classes must leave a run bit for bit as it was (held under ATEN_CPU_CAPABILITY default / avx2 /
    avx512 and DNNL_MAX_CPU_ISA=SSE41). A batch of another size picks other kernels, whose rounding
    the robust style's transforms and steps amplify; measured under those settings: frames at most
    1.5 levels apart on average (up to 15 levels on 8% of pixels), objectives within 3.7e-3. An
    image whose loss reached into another's would move everywhere."""
    _, first = _run(tiny, classes=("0", "4", "9"))
    _, again = _run(tiny, classes=("0", "4", "9"))
    _, others = _run(tiny, classes=("1", "6", "9"))
    _, alone = _run(tiny, classes=("9",), regularisers=("l1",), styles=("robust",))
    for variant, result in first.items():
        for frame, repeated in zip(result.animations["gif"], again[variant].animations["gif"], strict=True):
            assert np.array_equal(frame, repeated)
        if variant.startswith("9/"):
            for frame, beside_others in zip(result.animations["gif"], others[variant].animations["gif"], strict=True):
                assert np.array_equal(frame, beside_others), variant
            assert np.array_equal(result.arrays["objective"], others[variant].arrays["objective"]), variant
    batched, single = first["9/l1/robust"].animations["gif"], alone["9/l1/robust"].animations["gif"]
    differences = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(batched, single, strict=True)]
    assert max(d.mean() for d in differences) < 3.0
    np.testing.assert_allclose(first["9/l1/robust"].arrays["objective"], alone["9/l1/robust"].arrays["objective"],
                               rtol=1e-2)


def test_gif_plays_as_long_whatever_the_steps_when_frames_repeat(tiny):
    """With more frames than steps some frames repeat; GIF writers merge identical neighbours into
    one longer frame, so the animation keeps its length, though not its frame count."""
    _, results = _run(tiny, classes=("1",), regularisers=("none",), styles=("naive",), steps=2, frames=5)
    (result,) = results.values()
    assert len(result.animations["gif"]) == 5
    gif = Image.open(io.BytesIO(render.gif_bytes(result.animations["gif"])))
    durations = []
    for index in range(gif.n_frames):
        gif.seek(index)
        durations.append(gif.info["duration"])
    assert sum(durations) == 4 * 100 + 1000 and gif.n_frames < 5


@pytest.mark.parametrize("steps", [5, 12])
def test_gif_has_the_frame_count_whatever_the_steps_loops_and_ends_on_the_final_image(tiny, steps):
    params, results = _run(tiny, classes=("1",), regularisers=("none",), steps=steps, robust_steps=steps, frames=5,
                           robust_side=40)
    for variant, result in results.items():
        frames = result.animations["gif"]
        shape = (params.height, params.width) if variant.endswith("naive") else (40, 40)
        assert len(frames) == 5 and frames[0].shape == (*shape, 3)
        assert np.array_equal(frames[-1], result.images["final"])
        assert result.meta.frame_steps[-1] == steps and len(result.arrays["probability"]) == 5
        gif = Image.open(io.BytesIO(render.gif_bytes(frames)))
        assert gif.n_frames == 5 and gif.info["loop"] == 0


def test_real_model_sees_each_default_class_in_its_image_at_the_standard_preset(lite0):
    """At the standard preset's sizes and steps every default class wins on its own image in both
    styles, the robust picture measured as the model saw it (resized to its input size). Smaller
    runs are not safe: a few robust steps leave the image near the grey start."""
    standard = TECHNIQUE.params_for("standard")
    _, results = _run(lite0, regularisers=("none",), steps=standard.steps, frames=2, height=standard.height,
                      width=standard.width, robust_steps=standard.robust_steps, robust_side=standard.robust_side)
    assert len(results) == 6
    for variant, result in results.items():
        assert result.meta.top1_index == int(variant.split("/")[0]), (variant, result.meta.top1_name)
        assert result.meta.probability > 0.5, variant
        if variant.endswith("robust"):
            picture = result.images["final"].astype(float)
            assert picture.std() > 25  # colour and contrast, not the grey start


def test_gallery_section_has_a_gif_per_class_regulariser_and_style_with_its_probability(tmp_path):
    from helpers import config, write_inputs

    from reportgen.core.pipeline import build
    from reportgen.gallery.site import write_site

    write_inputs(tmp_path / "inputs")
    settings = config(tmp_path, techniques=("class_ascent",),
                      overrides={"class_ascent": {"classes": ("thing 2", "5"), "steps": 2, "frames": 2}})
    report = build(settings, Silent())
    write_site(report.manifest, settings.cache_dir, report.images, settings.out)
    page = (settings.out / "class_ascent.html").read_text()
    assert page.count(".gif") >= 2 * 3 * 2 * 2  # 2 classes x 3 regularisers x 2 styles: link + img
    assert "class=2 (thing 2)" in page and "class=5 (thing 5)" in page
    assert page.count("L1 regulariser") == 2 and page.count("p = ") == 12


def test_runs_stop_when_they_plateau_at_the_same_step_every_time_and_show_it(tiny):
    """With a short window some of the tiny CNN's runs plateau before the cap: they end there with
    their last image as their last frame, fewer frames than the cap's, and a second run stops
    every run at the same step with the same pictures."""
    changes = dict(classes=("3", "7"), steps=40, robust_steps=40, frames=8, plateau_window=3, plateau_margin=0.2)
    _, first = _run(tiny, **changes)
    _, again = _run(tiny, **changes)
    steps = {variant: result.meta.steps for variant, result in first.items()}
    assert steps == {variant: result.meta.steps for variant, result in again.items()}
    early = [variant for variant, result in first.items() if result.meta.steps < result.meta.step_cap]
    assert early, steps
    for variant in early:
        meta = first[variant].meta
        assert meta.frame_steps[-1] == meta.steps and len(meta.frame_steps) <= 8
        assert len(first[variant].animations["gif"]) == len(meta.frame_steps)
        assert len(first[variant].arrays["objective"]) == len(meta.frame_steps)
    for variant, result in first.items():
        assert np.array_equal(result.images["final"], again[variant].images["final"]), variant
    capped = TECHNIQUE.params_for("quick", {**changes, "plateau_window": 0})
    assert all(r.spec["plateau_window"] == 0 for r in TECHNIQUE.plan(capped, tiny.card, []))
