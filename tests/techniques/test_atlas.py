"""Unit atlases: every unit of a layer (``layer_ascent.units=LAYER:*``), each with its own anchor."""
import re

from helpers import config, write_inputs
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.gallery.site import write_site


def test_every_unit_of_a_layer_gets_a_visualisation_an_anchor_and_an_atlas_cell(tmp_path):
    write_inputs(tmp_path / "inputs")
    settings = config(tmp_path, techniques=("layer_ascent",),
                      overrides={"layer_ascent": {"units": ("features.2:*", "features.0:3"), "styles": ("robust",),
                                                  "robust_steps": 2, "frames": 2, "examples": 2}})
    report = build(settings, Silent())
    assert not report.errors, report.errors
    visualisations = [a for a in report.manifest.artifacts if "style" in a.spec]
    assert sorted(a.spec["filter"] for a in visualisations if a.spec["layer"] == "features.2") == list(range(16))
    write_site(report.manifest, settings.cache_dir, report.images, settings.out)
    page = (settings.out / "layer_ascent.html").read_text()
    ids = re.findall(r'<tr id="(unit-tiny-features-2-\d+)"', page)
    assert sorted(ids) == sorted(f"unit-tiny-features-2-{i}" for i in range(16))
    assert 'id="unit-tiny-features-0-3"' in page
    atlas = page[page.index('class="atlas-grid"'):page.index("</div>", page.index('class="atlas-grid"'))]
    assert atlas.count('href="#unit-tiny-features-2-') == 16
    # every unit's visualisation over its strongest dataset examples, both loaded lazily
    assert atlas.count('loading="lazy"') == 32 and atlas.count('class="atlas-examples"') == 16
    assert page.count('class="atlas"') == 1  # one unit of features.0 makes no atlas
    assert len(set(re.findall(r'id="([^"]+)"', page))) == len(re.findall(r'id="([^"]+)"', page))


def test_a_star_needs_a_layer_with_maps(tmp_path):
    import pytest

    from reportgen.core.pipeline import BuildError

    write_inputs(tmp_path / "inputs")
    settings = config(tmp_path, techniques=("layer_ascent",), overrides={"layer_ascent": {"units": ("nope:*",)}})
    with pytest.raises(BuildError, match="no layer 'nope'"):
        build(settings, Silent())
