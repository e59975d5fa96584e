"""A dry run's card, sketched on the meta device: the card a build probes, without weights or arithmetic."""

import layout_models  # noqa: F401  registers tiny_tokens and tiny_channels_last
import pytest

from reportgen.models.describe import _build_card, sketch_card


@pytest.mark.parametrize("name", ["tiny", "tiny_channels_last"])
def test_the_sketch_is_the_probed_card(name):
    probed = _build_card(name, "random")
    sketched = sketch_card(name, "random")
    assert sketched == probed and sketched.identity == probed.identity


def test_a_token_models_sketch_has_its_layouts_and_costs():
    """Which of a token model's maps the class score reaches needs values: the sketch marks every
    map the gradient is connected to, the probe only those it reaches (the last block's patch
    tokens get none); everything else is the same."""
    probed, sketched = _build_card("tiny_tokens", "random"), sketch_card("tiny_tokens", "random")
    assert [(layer.name, layer.layout, layer.channels, layer.spatial, layer.relays) for layer in sketched.layers] == \
        [(layer.name, layer.layout, layer.channels, layer.spatial, layer.relays) for layer in probed.layers]
    assert all(s.gradient or not p.gradient for s, p in zip(sketched.layers, probed.layers))
    assert (sketched.gflops, sketched.activation_mb, sketched.min_size, sketched.size_multiple, sketched.fixed_size) == \
        (probed.gflops, probed.activation_mb, probed.min_size, probed.size_multiple, probed.fixed_size)


def test_a_catalogue_model_is_sketched_without_weights_in_moments(monkeypatch, tmp_path):
    import time

    from reportgen.models import weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "fetch", lambda *a, **k: pytest.fail("a sketch downloaded weights"))
    start = time.process_time()
    card = sketch_card("vgg16", "pretrained")
    assert time.process_time() - start < 20  # the probed card takes a minute of CPU on two cores
    assert card.weights == "pretrained" and card.gflops == pytest.approx(30.94, rel=0.01)
    assert card.layer("features.29").channels == 512 and card.layer("features.29").spatial == (14, 14)
    assert not (tmp_path / "torch").exists()
