"""The optimisations on models of other shapes: a ViT-like token model that takes exactly 32 px
and a Swin-like channels-last one. Their canvases and octaves follow the card's probed sizes, and
their objectives read the layers as maps."""
import layout_models  # noqa: F401  registers tiny_tokens and tiny_channels_last
from helpers import config, write_inputs
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent


def test_ascents_and_dreams_build_on_token_and_channels_last_models(tmp_path):
    write_inputs(tmp_path / "inputs", size=(48, 40))
    settings = config(tmp_path, models=("tiny_tokens", "tiny_channels_last"),
                      techniques=("class_ascent", "layer_ascent", "deep_dream"),
                      overrides={"class_ascent": {"classes": ("1",), "regularisers": ("none",)},
                                 "deep_dream": {"gif": False}})
    report = build(settings, Silent())
    assert not report.errors, report.errors
    made = {(a.model, a.technique) for a in report.manifest.artifacts}
    for model in ("tiny_tokens", "tiny_channels_last"):
        for technique in ("class_ascent", "layer_ascent", "deep_dream"):
            assert (model, technique) in made, (model, technique)
    tokens = [a for a in report.manifest.artifacts if a.model == "tiny_tokens"]
    naive = next(a for a in tokens if a.technique == "class_ascent" and a.spec["style"] == "naive")
    assert (naive.spec["height"], naive.spec["width"]) == (32, 32)  # the quick preset's 48 px, fitted
    dream = next(a for a in tokens if a.technique == "deep_dream" and a.spec["method"] == "octaves")
    assert dream.meta.working_size == (32, 32) and dream.meta.octaves == 1
