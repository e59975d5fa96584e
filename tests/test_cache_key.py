"""The cache key covers every input of a picture: every field of every technique's request, the
model's card, and the code that computes it (tests/core/test_code_identity.py); fields declared with
``not_keyed`` leave it alone."""
import dataclasses

import pytest

from conftest import make_image
from reportgen.core.artifacts import Request, is_keyed
from reportgen.core.cache import cache_key
from reportgen.techniques.base import Context, registry

TECHNIQUES = list(registry().values())
# A valid other value for fields whose type alone does not give one (on the tiny model).
OTHER_VALUES = {
    ("feature_maps", "layers"): ("features.2",),
    ("filters", "parameters"): ("features.2.weight",),
    ("saliency", "cam_layer"): "features.2",
    ("saliency", "ig_baseline"): "white",
    ("class_ascent", "classes"): ("3",),
    ("layer_ascent", "units"): ("features.2:1",),
    ("layer_ascent", "regulariser"): "l1",
    ("deep_dream", "layer"): "features.2",
    ("deep_dream", "filter"): 1,
    ("feature_inversion", "layers"): ("features.3",),
    ("adversarial", "attack"): "pgd",  # quick's is fgsm
    ("adversarial", "target"): "3",
    ("saliency", "cam_channels"): 8,  # the tiny model's CAM layer has 16: quick's 64 are cut to them
    ("embedding_map", "perplexity"): 1.0,  # the most: 5 inputs get 4/3 whatever it is above that
}
# Fields read only in some setting, and the setting where they are read.
READ_WHEN = {
    ("saliency", "randomisation_stages"): {"sanity": True},
    ("saliency", "deletion_steps"): {"sanity": True},
    ("layer_ascent", "l1_weight"): {"regulariser": "l1"},
    ("layer_ascent", "l2_weight"): {"regulariser": "l2"},
    ("adversarial", "steps"): {"attack": "pgd"},
    ("adversarial", "step_ratio"): {"attack": "pgd"},
}


def keys(technique, params, card, images) -> set[str]:
    # as many inputs as the technique needs (the embedding map: a handful)
    images = [*images, *(make_image(f"{n}.png", 40, 40, n) for n in range(len(images), technique.min_inputs))]
    upstream = ()
    if technique.reads:
        read = registry()[technique.reads]
        upstream = tuple((r, key_of(read, r, card)) for r in read.plan(read.params_for("quick"), card, images)
                         if isinstance(r, Request))
    requests = technique.plan(params, card, images if technique.per_image else [], Context(upstream))
    return {key_of(technique, r, card) for r in requests if isinstance(r, Request)}


def key_of(technique, request, card) -> str:
    return cache_key(technique.name, technique.version, request.spec, card.identity,
                     request.image.pixel_hash if request.image is not None else None, request.reads)


def other_value(technique, field, value):
    if (technique.name, field.name) in OTHER_VALUES:
        return OTHER_VALUES[technique.name, field.name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):  # down, where a count may be clamped to what the tiny model has
        return value - 1 if value > 1 else value + 1
    if isinstance(value, float):
        return value / 2 if value else 1.0
    if isinstance(value, tuple) and len(value) > 1:
        return value[1:]
    raise AssertionError(f"{technique.name}.{field.name}: add another value to OTHER_VALUES")


def fields(keyed: bool):
    return [pytest.param(t, f, id=f"{t.name}.{f.name}") for t in TECHNIQUES
            for f in dataclasses.fields(t.Params) if is_keyed(f) == keyed]


@pytest.fixture
def two_images():
    return [make_image("a.png", 48, 40, 0), make_image("b.png", 40, 48, 1)]


@pytest.mark.parametrize("technique, field", fields(keyed=True))
def test_every_field_that_changes_the_output_changes_a_key(technique, field, tiny_card, two_images):
    params = dataclasses.replace(technique.params_for("quick"), **READ_WHEN.get((technique.name, field.name), {}))
    changed = dataclasses.replace(params, **{field.name: other_value(technique, field, getattr(params, field.name))})
    assert keys(technique, changed, tiny_card, two_images) != keys(technique, params, tiny_card, two_images)


@pytest.mark.parametrize("technique, field", [p for p in fields(keyed=False) if p.values[1].name != "examples_dir"])
def test_a_field_declared_not_to_change_the_output_keeps_every_key(technique, field, tiny_card, two_images):
    """Batch sizes, and budgets that fit the tiny model whatever their value (what a budget shrinks
    is keyed: see test_budget_s_is_keyed_through_what_it_shrinks)."""
    assert field.metadata["why"]
    params = technique.params_for("quick")
    value = getattr(params, field.name)
    changed = dataclasses.replace(params, **{field.name: value + 1 if "batch" in field.name else 1e6})
    assert keys(technique, changed, tiny_card, two_images) == keys(technique, params, tiny_card, two_images)


def test_budget_s_is_keyed_through_what_it_shrinks(tiny_card, two_images):
    technique = registry()["class_ascent"]
    params = technique.params_for("standard")
    heavy = dataclasses.replace(tiny_card, gflops=1e4)  # a budget this model's runs do not fit
    assert keys(technique, params, heavy, two_images) != keys(technique, dataclasses.replace(params, budget_s=0.0),
                                                             heavy, two_images)


def test_an_artifact_is_keyed_by_the_artifacts_it_reads_which_are_no_parameter_of_it(tiny_card, two_images):
    """Faithfulness scores saliency's maps: another map (another key) recomputes the scores, and the
    manifest's parameters do not hold keys, which change with every change of code."""
    technique, saliency = registry()["faithfulness"], registry()["saliency"]
    params = technique.params_for("quick")
    upstream = [(r, key_of(saliency, r, tiny_card)) for r in saliency.plan(saliency.params_for("quick"), tiny_card,
                two_images) if isinstance(r, Request)]
    (request,) = [r for r in technique.plan(params, tiny_card, two_images, Context(tuple(upstream))) if isinstance(r, Request)]
    moved = [(r, "0" * 64 if i == 0 else key) for i, (r, key) in enumerate(upstream)]
    (again,) = [r for r in technique.plan(params, tiny_card, two_images, Context(tuple(moved))) if isinstance(r, Request)]
    assert again.spec == request.spec and key_of(technique, again, tiny_card) != key_of(technique, request, tiny_card)
    assert upstream[1][1] not in str(request.spec)


def test_the_examples_folder_is_keyed_by_its_content_not_its_path(tmp_path, tiny_card, two_images):
    from helpers import write_inputs

    technique = registry()["layer_ascent"]
    first, same, other = (tmp_path / name for name in ("first", "same", "other"))
    write_inputs(first, size=(40, 32))
    write_inputs(same, size=(40, 32))
    write_inputs(other, size=(48, 32))
    params = technique.params_for("quick")
    found = {folder.name: keys(technique, dataclasses.replace(params, examples_dir=str(folder)), tiny_card, two_images)
             for folder in (first, same, other)}
    assert found["first"] == found["same"] != found["other"]


def test_every_field_of_the_card_but_where_its_weights_lie_changes_the_model_identity(tiny_card):
    for field in dataclasses.fields(tiny_card):
        value = getattr(tiny_card, field.name)
        if isinstance(value, bool):
            other = not value
        elif isinstance(value, (int, float)):
            other = value + 1
        elif isinstance(value, str) or value is None:
            other = f"{value}-other"
        elif field.name == "layers":
            other = value[:-1]
        else:  # the tuples: mean, std, categories, parameters
            other = tuple(reversed(value)) if len(set(value)) > 1 else value + value[:1]
        changed = dataclasses.replace(tiny_card, **{field.name: other})
        if field.name in ("weights_file", "weights_url"):
            assert changed.identity == tiny_card.identity, field.name
        else:
            assert changed.identity != tiny_card.identity, field.name



def test_the_animation_format_changes_the_keys_of_the_artifacts_that_hold_an_animation_only(tiny_card,
                                                                                          two_images):
    """--animation gif|webp: class and layer ascent's runs and octave dreams drawn as animations
    are written in it, so it enters their keys; every other artifact keeps its key and its cache entry."""
    from reportgen.core.pipeline import _plan

    techniques = list(registry().values())
    params = {t.name: t.params_for("quick") for t in techniques}
    params["deep_dream"] = dataclasses.replace(params["deep_dream"], gif=True)

    def planned(animation):
        plan, _ = _plan(techniques, params, tiny_card, two_images, lambda key: None, "code", animation)
        return {(p.technique.name, p.request.variant, p.request.image and p.request.image.name): p for p in plan}

    gif, webp = planned("gif"), planned("webp")
    assert gif.keys() == webp.keys()
    moved = {what for what in gif if gif[what].key != webp[what].key}
    assert moved == {what for what, p in gif.items() if p.request.animated}
    assert {technique for technique, _, _ in moved} == {"class_ascent", "layer_ascent", "deep_dream"}
    assert {(technique, variant.split("/")[0]) for technique, variant, _ in moved if technique == "deep_dream"} \
        == {("deep_dream", "octaves")}
