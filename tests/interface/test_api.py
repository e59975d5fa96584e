"""The Python API: the same build as the command line, typed artifacts, pictures and arrays."""
import logging

import numpy as np
import pytest

import reportgen
from helpers import write_inputs


def test_build_returns_typed_artifacts_with_their_pictures_and_arrays(tmp_path, caplog):
    write_inputs(tmp_path / "in")
    with caplog.at_level(logging.WARNING, logger="reportgen"):
        gallery = reportgen.build(tmp_path / "in", models=["tiny"], techniques=["feature_maps"], preset="quick",
                                  out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu",
                                  overrides={"feature_maps": {"layers": ["features.0", "features.2"]}})
    assert isinstance(gallery, reportgen.Gallery) and gallery.cached == 0
    maps = gallery.select(technique="feature_maps")
    assert [a.variant for a in maps if a.image == "a.png"] == ["features.0", "features.2"]
    first = maps[0]
    assert first.model == "tiny" and first.spec["layer"] == "features.0" and first.key
    picture, activations = gallery.picture(first, "grid"), gallery.array(first, "activations")
    assert picture.dtype == np.uint8 and picture.ndim == 3 and activations.dtype == np.float32
    assert (tmp_path / "site" / first.files["grid"].path).is_file()
    assert gallery.summary() == f"{len(gallery.artifacts)} artifacts: {len(gallery.artifacts)} computed, 0 cached"
    again = reportgen.build(tmp_path / "in", models="tiny", techniques="feature_maps", preset="quick",
                            out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu",
                            overrides={"feature_maps": {"layers": ["features.0", "features.2"]}})
    assert again.computed == 0 and [a.key for a in again.artifacts] == [a.key for a in gallery.artifacts]
    assert not caplog.records  # quiet unless asked


def test_bad_settings_raise_with_the_valid_choices(tmp_path):
    write_inputs(tmp_path / "in")
    with pytest.raises(reportgen.ParamError, match="valid: quick, standard, full"):
        reportgen.build(tmp_path / "in", preset="bogus")
    with pytest.raises(reportgen.BuildError, match="does not exist"):
        reportgen.build(tmp_path / "nowhere", models="tiny", out=tmp_path / "site", cache_dir=tmp_path / "cache")


def test_a_config_file_and_check(tmp_path):
    write_inputs(tmp_path / "in")
    (tmp_path / "gallery.toml").write_text('input = "in"\nmodels = ["tiny"]\ntechniques = ["filters"]\n'
                                           'preset = "quick"\nout = "site"\ncache_dir = "cache"\ndevice = "cpu"\n')
    gallery = reportgen.build(config=tmp_path / "gallery.toml")
    assert gallery.out == tmp_path / "site" and {a.technique for a in gallery.artifacts} == {"predictions", "filters"}
    assert reportgen.update_baseline(tmp_path / "baseline", out=gallery.out, cache_dir=gallery.cache_dir) > 0
    outcome = reportgen.check(tmp_path / "baseline", out=gallery.out, cache_dir=gallery.cache_dir)
    assert outcome.passed and not outcome.moved


def test_a_gallery_shows_itself_in_a_notebook_as_thumbnails_linking_to_its_pages(tmp_path):
    import re
    from html.parser import HTMLParser

    write_inputs(tmp_path / "in")
    gallery = reportgen.build(tmp_path / "in", models="tiny", techniques="feature_maps,filters", preset="quick",
                              out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu")
    text = repr(gallery)
    assert "\n" not in text and len(text) < 200 and "artifacts of 2 techniques, 1 models, 2 images" in text

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.links = [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img":
                self.images.append(attrs["src"])
            elif tag == "a":
                self.links.append(attrs["href"])

    tags = Tags()
    tags.feed(gallery._repr_html_())
    assert len(tags.images) >= 4  # a row per technique, a few pictures each
    assert all((tmp_path / src).is_file() for src in tags.images)  # relative to the working folder (tmp_path)
    pages = {re.sub("#.*", "", href) for href in tags.links}
    assert {"site/index.html", "site/feature_maps.html", "site/filters.html"} <= pages
    assert all((tmp_path / page).is_file() for page in pages)
