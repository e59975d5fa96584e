"""labels.json against the models of a build: a label some model lacks is taken off in one line,
for every model, and its image is explained by the top-1 prediction."""
import dataclasses
import json

import pytest
from torch import nn

from reportgen import models
from reportgen.core.pipeline import BuildError, build
from reportgen.core.progress import Silent
from reportgen.gallery.summaries import checked_labels
from conftest import make_image
from helpers import config, write_inputs


class ThreeClasses(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        return self.head(self.features(x))


models.register_local("tiny_three", models.LocalModel(build=ThreeClasses, load_weights=None, weights_file=None,
                                                      input_size=32, categories=lambda: ["red", "green", "blue"]))


def test_a_label_any_model_lacks_is_taken_off_for_every_model(tiny_card):
    three = dataclasses.replace(tiny_card, name="three", categories=("red", "green", "blue"))
    labelled = {"both.png": 2, "name.png": "Thing 7", "ten.png": 5, "far.png": 10, "none.png": None}
    images = [dataclasses.replace(make_image(name, seed=seed), label=label)
              for seed, (name, label) in enumerate(labelled.items())]
    checked, problems = checked_labels(images, [tiny_card, three])
    assert [image.name for image in checked] == list(labelled)  # every image stays
    assert {image.name: image.label for image in checked} == {**labelled, "name.png": None, "ten.png": None,
                                                              "far.png": None}
    assert [str(p) for p in problems] == [
        "skipped labels.json: name.png: three has no category named 'Thing 7'; explained by the top-1 prediction",
        "skipped labels.json: ten.png: class 5 is out of range for three (0..2); explained by the top-1 prediction",
        "skipped labels.json: far.png: class 10 is out of range for tiny (0..9); explained by the top-1 prediction",
    ]
    assert checked_labels(images[:1], [tiny_card, three]) == (images[:1], [])


def test_a_build_explains_an_image_whose_label_one_model_lacks_by_its_top1(tmp_path):
    write_inputs(tmp_path / "inputs", names=("kept.png", "dropped.png"))
    (tmp_path / "inputs" / "labels.json").write_text(json.dumps({"kept.png": 1, "dropped.png": 5}))
    report = build(config(tmp_path, models=("tiny", "tiny_three"), techniques=("saliency",),
                          overrides={"saliency": {"methods": ["vanilla"]}}), Silent())
    assert [str(s) for s in report.skipped] == [
        "skipped labels.json: dropped.png: class 5 is out of range for tiny_three (0..2); "
        "explained by the top-1 prediction"]
    sources = {(a.model, a.image): (a.meta.class_source, a.meta.class_index)
               for a in report.manifest.artifacts if a.technique == "saliency"}
    for model in ("tiny", "tiny_three"):
        assert sources[(model, "kept.png")] == ("labels.json", 1)
        assert sources[(model, "dropped.png")][0] == "top-1 prediction"
    assert {image.name: image.label for image in report.images} == {"kept.png": 1, "dropped.png": None}


def test_strict_stops_on_a_label_a_model_lacks(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    (tmp_path / "inputs" / "labels.json").write_text(json.dumps({"a.png": "zebra"}))
    with pytest.raises(BuildError, match=r"^1 label\(s\) skipped and --strict is set$"):
        build(config(tmp_path, strict=True), Silent())
