import json

import pytest

from reportgen.core.artifacts import File, Manifest, UnknownName, find, select
from helpers import artifact, manifest


def test_find_and_select_match_fields_spec_and_meta():
    artifacts = [
        artifact("a", spec={"layer": "x"}, cam_layer="x"),
        artifact("b", spec={"layer": "y"}, cam_layer="y", ig_completeness_gap=0.0),
    ]
    assert find(artifacts, layer="y").variant == "b" and find(artifacts, cam_layer="y").variant == "b"
    assert len(select(artifacts, model="m")) == 2 and find(artifacts, cam_layer="z") is None
    # known to one artifact (a fact the other has no value for): the other does not match
    assert select(artifacts, ig_completeness_gap=0.0) == artifacts[1:]


def test_a_misspelt_criterion_fails_loudly_instead_of_matching_nothing():
    artifacts = [artifact("a", spec={"layer": "x"})]
    with pytest.raises(UnknownName, match="'lyer'"):
        select(artifacts, lyer="x")
    with pytest.raises(UnknownName, match="'lyer'"):
        artifacts[0].value("lyer")


def test_manifest_round_trips_through_json_before_and_after_publishing():
    built = manifest(artifact("guided", image="a.png", spec={"layer": "x"}, unguided_calls=1), artifact("gradcam"))
    assert Manifest.from_json(json.loads(json.dumps(built.to_json()))) == built
    assert "files" not in built.to_json()["artifacts"][0]  # not published yet
    published = built.with_artifacts([a.__class__(**{**a.__dict__, "files": {"color": File("a/c.png", 4, 3)},
                                                     "anchor": a.variant}) for a in built.artifacts])
    again = Manifest.from_json(json.loads(json.dumps(published.to_json())))
    assert again == published and again.artifacts[0].files["color"].width == 4
    assert built.artifacts[0].raw_roles() == ["attribution"]
    assert built.artifacts[0].identity() == ("saliency", "guided", "m", "a.png", '{"layer": "x"}')


def test_an_unknown_technique_fails_loudly():
    with pytest.raises(UnknownName, match="'saliancy'"):
        manifest(artifact()).of("saliancy")
