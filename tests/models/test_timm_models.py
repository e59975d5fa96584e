"""timm:NAME: any timm classifier, with its data config and ImageNet's names for a 1000-class head."""
import json

import pytest

import reportgen
from helpers import write_inputs


def run(tmp_path, model, weights, techniques=("feature_maps", "saliency")):
    write_inputs(tmp_path / "inputs", size=(40, 32))
    return reportgen.build(tmp_path / "inputs", models=[model], techniques=list(techniques), preset="quick",
                           weights=weights, out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu")


def test_a_timm_model_builds_offline_with_random_weights_and_imagenet_names(tmp_path):
    gallery = run(tmp_path, "timm:resnet18", "random")
    assert not gallery.errors and gallery.report.computed > 0
    model = json.loads((tmp_path / "site" / "manifest.json").read_text())["models"][0]
    assert model["name"] == "timm:resnet18"
    from reportgen import models
    from reportgen.core.cache import Cache

    card = models.card_for("timm:resnet18", "random", Cache(tmp_path / "cache"))
    assert card.untrained and len(card.categories) == 1000 and card.categories[0] == "tench"


def test_pretrained_timm_weights_offline_fail_in_one_line_naming_what_to_place(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(reportgen.BuildError) as raised:
        run(tmp_path, "timm:resnet18", "pretrained", ["feature_maps"])
    message = str(raised.value)
    assert "\n" not in message and "timm/resnet18" in message and "--weights random" in message


def test_an_unknown_timm_name_gets_the_closest_names(tmp_path):
    with pytest.raises(reportgen.BuildError, match="did you mean resnet18"):
        run(tmp_path, "timm:resnet_18", "random")
