"""Registry-wide checks: every registered technique, present and future, passes these."""
import dataclasses
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from reportgen.core.artifacts import Request
from reportgen.core.cache import cache_key
from reportgen.models.hooks import hooks_left
from reportgen.core.meta import load
from reportgen.core.progress import Silent
from reportgen.techniques.base import PRESETS, Context, registry
from conftest import make_image

TECHNIQUES = list(registry().values())


@pytest.fixture
def images(images, technique):
    """The two inputs, and more where a technique needs more to make anything (``min_inputs``)."""
    return images + [make_image(f"{n}.png", 40, 40, n) for n in range(len(images), technique.min_inputs)]


def planned(technique, card, images, cache, preset="quick", model=None):
    """(params, requests, compute's context), as the pipeline calls every technique; a technique
    that reads another gets that one's planned keys, and (given a model) its results computed into
    ``cache`` first."""
    params = technique.params_for(preset)
    upstream = ()
    if technique.reads:
        read = registry()[technique.reads]
        read_params, read_requests, read_context = planned(read, card, images, cache, preset)
        upstream = tuple((r, cache_key(read.name, read.version, r.spec, card.identity,
                                       r.image.pixel_hash if r.image else None, r.reads))
                         for r in read_requests if isinstance(r, Request))
        if model is not None:
            computed = read.compute(read_params, model, [r for r, _ in upstream], Silent(), read_context)
            for (_, key), (_, result) in zip(upstream, computed):
                cache.put(key, result)
    requests = technique.plan(params, card, images if technique.per_image else [], Context(upstream, cache.get))
    return params, requests, Context(read=cache.get)


def run(technique, model, card, images, cache, preset="quick"):
    params, requests, context = planned(technique, card, images, cache, preset, model)
    requests = [r for r in requests if isinstance(r, Request)]  # skips never reach compute (the pipeline's way)
    return requests, list(technique.compute(params, model, requests, Silent(), context))


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda t: t.name)
def test_runs_on_the_tiny_model_and_leaves_no_hook(technique, tiny, tiny_card, images, cache):
    requests, results = run(technique, tiny, tiny_card, images, cache)
    assert requests and len(results) == len(requests)
    assert {id(r) for r, _ in results} == {id(r) for r in requests}
    declared = {value for name, value in vars(technique.Roles).items() if name.isupper()}
    for base in technique.Roles.__mro__[1:]:
        declared |= {value for name, value in vars(base).items() if name.isupper()}
    for request, result in results:
        assert bool(result.animations) == request.animated, (technique.name, request.variant)  # --animation keys it
        assert isinstance(result.meta, technique.Meta), (technique.name, type(result.meta))
        assert load(technique.name, json.loads(json.dumps(result.meta.to_json()))) == result.meta  # as the manifest
        roles = {*result.arrays, *result.images, *result.animations}
        assert roles and roles <= declared, (technique.name, roles - declared)
    assert hooks_left(tiny.module) == 0


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda t: t.name)
def test_is_deterministic(technique, tiny, tiny_card, images, cache):
    first = run(technique, tiny, tiny_card, images, cache)[1]
    second = run(technique, tiny, tiny_card, images, cache)[1]
    for (_, a), (_, b) in zip(first, second):
        assert a.meta == b.meta
        for role in a.images:
            assert (a.images[role] == b.images[role]).all()
        for role in a.arrays:
            assert (a.arrays[role] == b.arrays[role]).all()


class Exploding(nn.Module):
    def forward(self, x):
        raise RuntimeError("forced failure")


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda t: t.name)
def test_hooks_are_removed_after_a_forced_failure(technique, tiny, tiny_card, images, cache):
    tiny.module.features[4] = Exploding()
    with pytest.raises(Exception):  # the forced failure (filters: the replaced layer's missing weights)
        run(technique, tiny, tiny_card, images, cache)
    assert hooks_left(tiny.module) == 0


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda t: t.name)
def test_params_are_typed_frozen_and_every_preset_is_valid(technique):
    assert dataclasses.is_dataclass(technique.Params)
    assert technique.Params.__dataclass_params__.frozen
    assert set(technique.presets) <= set(PRESETS)
    for preset in PRESETS:
        technique.params_for(preset)
    for field in dataclasses.fields(technique.Params):
        assert field.type, f"{technique.name}.{field.name} has no type"


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda t: t.name)
def test_spec_changes_when_a_parameter_changes(technique, tiny_card, images, cache):
    """Keys are derived from Params: a different preset that changes a value changes some spec."""
    specs = {}
    for preset in PRESETS:
        specs[preset] = [r.spec for r in planned(technique, tiny_card, images, cache, preset)[1] if isinstance(r, Request)]
    for preset in PRESETS:
        if technique.params_for(preset) != technique.params_for("standard"):
            assert specs[preset] != specs["standard"], preset


def test_planning_never_imports_torch():
    script = "import sys; from reportgen.techniques.base import registry; registry(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.parametrize("technique", TECHNIQUES, ids=lambda t: t.name)
def test_states_the_classic_it_reproduces_with_the_paper(technique):
    """The overview names it by each section (``Technique.classic``): authors and a year at least."""
    assert technique.classic.strip() and any(str(year) in technique.classic for year in range(1980, 2040))
