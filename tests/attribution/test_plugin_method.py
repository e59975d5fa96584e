"""A saliency method defined outside reportgen, in this one file, reaches every place a built-in one
does: saliency's default methods and its page (a row, on each input's page too), faithfulness's
scores (its row beside the baselines) and ``reportgen list params``, with no edit to reportgen."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from reportgen.attribution import methods
from reportgen.attribution.methods import SaliencyMethod
from reportgen.interface.cli import main
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.gallery.site import write_site
from helpers import config, write_inputs

TITLE = "Gradient magnitude (a method from elsewhere)"


class GradientMagnitude(SaliencyMethod):
    """The vanilla gradient's absolute value, read from the shared pass."""

    name, title, rules = "gradient_magnitude", TITLE, ("vanilla",)

    def attribute(self, batch):
        return batch.shared.gradients["vanilla"].abs()


@pytest.fixture
def gradient_magnitude():
    """Registered for one test: the methods are shared by every test of the session."""
    methods.register(GradientMagnitude)
    yield methods.METHODS["gradient_magnitude"]
    del methods.METHODS["gradient_magnitude"]


def test_its_maps_are_made_and_shown_on_the_saliency_and_faithfulness_pages(gradient_magnitude, tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png", "b.png"))
    cfg = config(tmp_path, techniques=("saliency", "faithfulness"))  # every method: the defaults
    report = build(cfg, Silent())
    assert not report.errors
    manifest = write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)

    def stored(artifact):
        return np.load(cfg.cache_dir / artifact.cache_files["attribution"], allow_pickle=False)

    mine = manifest.select(technique="saliency", variant="gradient_magnitude")
    assert {a.image for a in mine} == {"a.png", "b.png"}
    for artifact in mine:
        (vanilla,) = manifest.select(technique="saliency", variant="vanilla", image=artifact.image)
        assert np.abs(stored(vanilla)).max() > 0
        np.testing.assert_allclose(stored(artifact), np.abs(stored(vanilla)), rtol=1e-6)

    page = (cfg.out / "saliency.html").read_text()
    assert TITLE in page and all(a.files["color"].path in page and a.files["gray"].path in page for a in mine)
    for artifact in mine:
        image = next(i for i in manifest.images if i.name == artifact.image)
        assert TITLE in (cfg.out / image.page).read_text()

    (scored,) = manifest.select(technique="faithfulness")
    assert scored.meta.methods[-3:] == ("gradient_magnitude", "random", "centre")
    assert all(np.isfinite(scored.meta.scores["gradient_magnitude"][metric])
               for metric in ("insertion", "deletion", "road_morf", "road_lerf"))
    assert f"<td>{TITLE}" in (cfg.out / "faithfulness.html").read_text()  # a note may follow the title


def test_list_params_offers_it(gradient_magnitude):
    for technique in ("saliency", "faithfulness"):
        listed = CliRunner().invoke(main, ["list", "params", technique])
        assert listed.exit_code == 0, listed.output
        (line,) = [line for line in listed.stdout.splitlines() if line.strip().startswith("methods ")]
        assert line.split(" = ")[1].split()[0].endswith(",gradient_magnitude")  # the last of the defaults
