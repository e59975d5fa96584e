"""A saliency method that raises loses only its own maps: the other methods' maps of the batch are
stored, the build reports one line naming the method, the model and the log, and faithfulness
ranks the methods whose maps exist. Rollout is skipped at plan time where attention layers do not
share one token grid (timm's MobileViT)."""
from __future__ import annotations

import pytest

from reportgen.attribution import methods
from reportgen.attribution.methods import SaliencyMethod
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from helpers import config, write_inputs


class Broken(SaliencyMethod):
    name, title, rules = "broken", "A method that raises", ("vanilla",)

    def attribute(self, batch):
        raise RuntimeError("this method cannot map anything")


@pytest.fixture
def broken():
    methods.register(Broken)
    yield
    del methods.METHODS["broken"]


def test_a_failing_method_costs_only_its_own_maps(broken, tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png", "b.png"))
    chosen = ["vanilla", "broken", "gradcam"]
    cfg = config(tmp_path, techniques=("saliency", "faithfulness"),
                 overrides={"saliency": {"methods": chosen}, "faithfulness": {"methods": chosen}})
    report = build(cfg, Silent())
    saliency = report.manifest.select(technique="saliency")
    assert sorted((a.variant, a.image) for a in saliency) == [
        ("gradcam", "a.png"), ("gradcam", "b.png"), ("vanilla", "a.png"), ("vanilla", "b.png")]
    (line,) = report.errors
    assert "saliency on tiny" in line and "method broken failed on 2 image(s)" in line and str(report.log) in line
    assert "\n" not in line
    assert "this method cannot map anything" in report.log.read_text()  # its traceback is in the log
    (scored,) = report.manifest.select(technique="faithfulness")
    assert scored.meta.methods == ("vanilla", "gradcam", "random", "centre")


def test_mobilevit_skips_rollout_at_plan_time_and_builds_the_rest(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",), size=(40, 32))
    chosen = ["vanilla", "gradcam", "rollout", "gradient_rollout"]
    cfg = config(tmp_path, models=("timm:mobilevit_xxs",), weights="random", techniques=("saliency", "faithfulness"),
                 overrides={"saliency": {"methods": chosen}, "faithfulness": {"methods": chosen}})
    report = build(cfg, Silent())
    assert not report.errors
    skipped = {(s.technique, s.variant): s.reason for s in report.unsupported}
    for rollout in ("rollout", "gradient_rollout"):
        assert "does not attend over one token grid of the image" in skipped[("saliency", rollout)]
    assert {a.variant for a in report.manifest.select(technique="saliency")} == {"vanilla", "gradcam"}
    (scored,) = report.manifest.select(technique="faithfulness")
    assert scored.meta.methods == ("vanilla", "gradcam", "random", "centre")


def test_rollout_needs_one_token_count_in_every_attention_layer():
    from reportgen.models.card import LayerInfo, ModelCard

    def card(*grids):
        layers = []
        for index, grid in enumerate(grids):
            layers.append(LayerInfo(f"blocks.{index}", "Block", 8, grid, "tokens", 1))
            layers.append(LayerInfo(f"blocks.{index}.attn", "Attention", None, None))
        return ModelCard("vit", "random", "", None, None, 32, (0.5,) * 3, (0.5,) * 3, ("a",), tuple(layers), ())

    rollout = methods.METHODS["rollout"]
    assert rollout.unsupported(card((4, 4), (4, 4))) is None  # read from each attention's block
    reason = rollout.unsupported(card((4, 4), (2, 2)))
    assert "different token counts (17 at blocks.0.attn, 5 at blocks.1.attn)" in reason


def test_faithfulness_is_keyed_by_the_maps_it_ranked(broken, tmp_path, monkeypatch):
    """Ranked without a method that failed once, it is ranked again with it when its maps come to
    be (a failure that does not repeat): never the stale ranking."""
    write_inputs(tmp_path / "inputs", names=("a.png",))
    chosen = ["vanilla", "broken"]
    cfg = config(tmp_path, techniques=("saliency", "faithfulness"),
                 overrides={"saliency": {"methods": chosen}, "faithfulness": {"methods": chosen}})
    (first,) = build(cfg, Silent()).manifest.select(technique="faithfulness")
    assert first.meta.methods == ("vanilla", "random", "centre")
    monkeypatch.setattr(Broken, "attribute", lambda self, batch: batch.shared.gradients["vanilla"].abs())
    report = build(cfg, Silent())
    assert not report.errors
    (second,) = report.manifest.select(technique="faithfulness")
    assert second.meta.methods == ("vanilla", "broken", "random", "centre") and second.key != first.key
    again = build(cfg, Silent())
    assert again.computed == 0 and again.manifest.select(technique="faithfulness")[0].key == second.key
