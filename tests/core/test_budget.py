"""Work sized to the model: the counted cost in the card, and the plans that fit it to a budget."""
import dataclasses

import pytest

from reportgen.core import budget
from reportgen.core.choices import ParamError
from reportgen.techniques.base import registry
from reportgen.techniques.deep_dream import sized_side


def test_share_is_the_part_that_fits_with_a_floor_and_no_limit_at_zero():
    assert budget.share(10, 500) == 1.0  # 10 s buy 1000 GFLOP at the reference rate
    assert budget.share(10, 2000) == 0.5
    assert budget.share(10, 10**6) == budget.SMALLEST_SHARE
    assert budget.share(0, 10**6) == 1.0 and budget.share(10, 0) == 1.0


def test_scaled_rounds_up_and_keeps_a_least_value():
    assert budget.scaled(64, 0.5) == 32 and budget.scaled(60, 0.26, 16) == 16 and budget.scaled(10, 0.3, 16) == 10


def test_batches_fit_the_activation_memory():
    assert budget.batch_for(18, 10) == 18
    assert budget.batch_for(18, 200) == 5
    assert budget.batch_for(18, 5000) == 1 and budget.batch_for(8, 0) == 8


def test_frames_per_forward_fit_the_forward_memory(tiny_card):
    vgg16 = dataclasses.replace(tiny_card, activation_mb=109.4)  # VGG16's count at 224 px
    assert budget.frames_per_forward(32, vgg16) == int(budget.FORWARD_MB // 109.4) < 32
    assert budget.frames_per_forward(32, dataclasses.replace(tiny_card, activation_mb=1.0)) == 32


def test_the_card_counts_the_forward_cost(tiny_card):
    assert tiny_card.gflops > 0 and tiny_card.activation_mb > 0


def test_a_costly_model_gets_fewer_steps_within_its_budget_and_a_cheap_one_all(tiny_card):
    technique = registry()["class_ascent"]
    params = technique.params_for("standard")
    cheap = technique.plan(params, tiny_card, [])
    costly = technique.plan(params, dataclasses.replace(tiny_card, gflops=30.0), [])
    assert {r.spec["steps"] for r in cheap if r.spec["style"] == "naive"} == {params.steps}
    steps = {r.spec["steps"] for r in costly if r.spec["style"] == "naive"}
    robust = {r.spec["robust_steps"] for r in costly if r.spec["style"] == "robust"}
    assert steps == {16} and robust == {16}  # the smallest share of 60 and 64 steps is below 16
    unlimited = dataclasses.replace(params, budget_s=0.0)
    assert {r.spec["robust_steps"] for r in technique.plan(unlimited, dataclasses.replace(tiny_card, gflops=30.0), [])
            if r.spec["style"] == "robust"} == {params.robust_steps}
    assert all("budget_s" not in r.spec for r in costly)  # the key holds what was planned, not the budget


def test_a_costly_model_dreams_at_a_smaller_side_but_not_below_its_input_size(tiny_card):
    params = registry()["deep_dream"].params_for("standard")
    assert sized_side(params, tiny_card, (300, 450)) == params.working_side
    costly = dataclasses.replace(tiny_card, gflops=30.0, input_size=224)
    assert sized_side(params, costly, (300, 450)) == 224
    middling = dataclasses.replace(tiny_card, gflops=12.0, input_size=224)
    assert 224 < sized_side(params, middling, (300, 450)) < params.working_side


def test_faithfulness_curves_take_fewer_steps_and_road_fractions_on_a_costly_model(tiny_card):
    from reportgen.techniques.faithfulness import sized

    params = registry()["faithfulness"].params_for("standard")
    assert sized(params, tiny_card, 9) == params
    costly = sized(params, dataclasses.replace(tiny_card, gflops=30.0), 9)
    assert costly.steps == 5 and costly.road_fractions == (0.1, 0.5, 0.9)
    middling = sized(params, dataclasses.replace(tiny_card, gflops=4.0), 9)
    assert (middling.steps, len(middling.road_fractions)) == (9, 5)


def test_saliency_takes_fewer_samples_on_a_costly_model_and_computes_what_it_planned(tiny_card, tiny, images):
    from reportgen.core.progress import Silent

    technique = registry()["saliency"]
    params = dataclasses.replace(technique.params_for("standard"), methods=("smoothgrad", "integrated_gradients"))
    assert {r.spec.get("smoothgrad_samples") for r in technique.plan(params, tiny_card, images)} == {None, 8}
    costly = technique.plan(params, dataclasses.replace(tiny_card, gflops=30.0), images)
    sizes = {(r.variant, name): r.spec[name] for r in costly for name in ("smoothgrad_samples", "ig_steps", "deletion_steps")
             if name in r.spec}
    assert set(sizes.values()) <= {4, 5} and sizes[("smoothgrad", "smoothgrad_samples")] == 4
    assert "budget_s" not in costly[0].spec
    planned = {r.variant: result for r, result in technique.compute(params, tiny, costly[:2], Silent())}
    four = dataclasses.replace(params, smoothgrad_samples=4, ig_steps=4, deletion_steps=5, budget_s=0.0)
    direct = {r.variant: result for r, result in technique.compute(four, tiny, technique.plan(four, tiny_card, images)[:2], Silent())}
    for method in planned:
        assert (planned[method].arrays["attribution"] == direct[method].arrays["attribution"]).all()
        assert planned[method].meta.deletion_auc == direct[method].meta.deletion_auc


def test_saliency_fits_rise_and_occlusion_to_the_budget_apart_from_the_gradient_methods(tiny_card, images):
    from reportgen.attribution.methods import chosen
    from reportgen.techniques.saliency_params import planned, sized

    technique = registry()["saliency"]
    params = dataclasses.replace(technique.params_for("standard"), methods=("smoothgrad", "rise", "occlusion"))
    methods = chosen(params.methods)
    cheap = sized(params, tiny_card, methods)  # 32 px: the square is cut to the input's side
    assert (cheap.occlusion_window, cheap.occlusion_stride, cheap.rise_masks) == (32, 16, params.rise_masks)
    middling = dataclasses.replace(tiny_card, gflops=0.4, input_size=224)  # an EfficientNet-Lite0's
    costly = dataclasses.replace(tiny_card, gflops=30.0, input_size=224)
    for card in (middling, costly):
        fitted = sized(params, card, methods)
        alone = sized(dataclasses.replace(params, methods=("smoothgrad",)), card, chosen(("smoothgrad",)))
        assert fitted.smoothgrad_samples == alone.smoothgrad_samples  # the gradient methods keep their share
        assert fitted.rise_masks < params.rise_masks and fitted.occlusion_stride > params.occlusion_stride
        assert fitted.occlusion_stride <= fitted.occlusion_window == 32
        again = planned(params, [r.args for r in technique.plan(params, card, images)])  # what compute runs
        fields = ("smoothgrad_samples", "rise_masks", "occlusion_window", "occlusion_stride", "deletion_steps")
        assert [getattr(again, name) for name in fields] == [getattr(fitted, name) for name in fields]
    assert sized(params, costly, methods).rise_masks == 250  # the smallest share
    with pytest.raises(ParamError, match="occlusion_stride"):
        sized(dataclasses.replace(params, occlusion_stride=40), costly, methods)
    with pytest.raises(ParamError, match="rise_keep"):
        sized(dataclasses.replace(params, rise_keep=0.0), costly, methods)


def _planned_cost(technique, params, card, images):
    """The counted GFLOP of everything ``technique`` plans (faithfulness reads saliency's plan)."""
    from reportgen.techniques.base import Context, Request

    upstream = ()
    if technique.reads:
        reader = registry()[technique.reads]
        planned = reader.plan(reader.params_for("standard"), card, images)
        upstream = tuple((r, f"{i:064x}") for i, r in enumerate(planned) if isinstance(r, Request))
    requests = [r for r in technique.plan(params, card, images if technique.per_image else [], Context(upstream))
                if isinstance(r, Request)]
    return technique.gflop(params, card, requests)


def test_the_counted_cost_follows_the_plans_sizing(tiny_card, images):
    """What a dry run shows: a costly model's plan is shrunk to its budget, so its counted cost is
    below the unlimited plan's; the cost grows with the model's and with the inputs."""
    costly = dataclasses.replace(tiny_card, gflops=200.0)
    for technique in registry().values():
        if len(images) < technique.min_inputs:  # copies with hashes of their own, as many as it needs
            images = [dataclasses.replace(images[i % len(images)], name=f"{i}.png", pixel_hash=f"{i:064x}")
                      for i in range(technique.min_inputs)]
        params = technique.params_for("standard")
        unlimited = dataclasses.replace(params, budget_s=0.0) if hasattr(params, "budget_s") else params
        cost = _planned_cost(technique, params, costly, images)
        assert 0 <= cost <= _planned_cost(technique, unlimited, costly, images), technique.name
        # (a dream's working side never falls below the input's size: these inputs are 48 px already)
        if hasattr(params, "budget_s") and params.budget_s > 0 and technique.name != "deep_dream":
            assert cost < _planned_cost(technique, unlimited, costly, images), technique.name
        if technique.name != "filters":
            assert _planned_cost(technique, unlimited, tiny_card, images) < \
                _planned_cost(technique, unlimited, costly, images), technique.name
        if technique.per_image and technique.name != "faithfulness" and technique.min_inputs <= 1:
            one = _planned_cost(technique, unlimited, costly, images[:1])
            assert _planned_cost(technique, unlimited, costly, images) > one > 0, technique.name
def test_score_and_ablation_cam_evaluate_at_most_the_layers_channels_and_fewer_on_a_costly_model(tiny_card, images):
    from reportgen.techniques.saliency_params import planned

    technique = registry()["saliency"]
    params = dataclasses.replace(technique.params_for("standard"), methods=("scorecam", "ablationcam"), sanity=False)
    assert {r.spec["cam_channels"] for r in technique.plan(params, tiny_card, images)} == {16}  # the layer's 16 of 256
    wide = tuple(dataclasses.replace(info, channels=1024) if info.name in ("features", "features.5") else info
                 for info in tiny_card.layers)  # the CAM layer (features.5, widened to features) made wider
    costly = technique.plan(params, dataclasses.replace(tiny_card, layers=wide, gflops=30.0), images)
    assert {r.spec["cam_channels"] for r in costly} == {64}  # 256 shrunk by the smallest share
    assert planned(params, [r.args for r in costly]).cam_channels == 64
    every = dataclasses.replace(params, cam_channels=0)  # the full preset's: every channel
    assert {r.spec["cam_channels"] for r in technique.plan(every, dataclasses.replace(tiny_card, layers=wide), images)} == {1024}
