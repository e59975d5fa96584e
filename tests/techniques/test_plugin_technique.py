"""A technique defined outside reportgen, in one file and one template (``plugin_brightness.html``
beside this module), reaches every place a built-in one does: its page and the per-input page of
the site, ``reportgen list params`` and the regression check, with no edit to reportgen."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from click.testing import CliRunner

from reportgen.core import meta
from reportgen.interface.cli import main
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.gallery.site import write_site
from reportgen.techniques import base
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, register
from helpers import config, write_inputs


@dataclass(frozen=True)
class BrightnessMeta(meta.Meta):
    mean: float  # the picture's mean level, 0 to 255


@dataclass(frozen=True)
class Params:
    gray: bool = False  # show the input in grayscale


class Brightness(Technique):
    """Each input as the model sees it, and its mean level."""

    name = "brightness"
    title = "Brightness (a technique from elsewhere)"
    description = "Each input shown as it is, with its mean brightness."
    Params = Params
    Meta = BrightnessMeta
    template = "plugin_brightness.html"
    darken: ClassVar[int] = 0  # levels taken off every pixel: a test's stand-in for a changed computation

    def plan(self, params, card, images, context=NO_CONTEXT):
        return [Request("input", params, image) for image in images]  # its request: every parameter

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        import torch  # as every technique: torch only inside compute

        for request in requests:
            pixels = torch.from_numpy(np.asarray(request.image.pixels, dtype=np.int16))
            if params.gray:
                pixels = pixels.float().mean(dim=2, keepdim=True).round().short().expand(-1, -1, 3)
            picture = (pixels - self.darken).clamp(0, 255).to(torch.uint8).numpy()
            yield request, Result(arrays={"levels": picture.mean(axis=(0, 1)).astype(np.float32)},
                                  images={"picture": picture}, meta=BrightnessMeta(float(picture.mean())))

    def caption(self, artifact):
        return f"brightness {artifact.meta.mean:.1f}"


@pytest.fixture
def brightness():
    """Registered for one test: the registry is shared by every test of the session."""
    register(Brightness)
    yield base.registry()["brightness"]
    del base._REGISTRY["brightness"], meta._DECLARED["brightness"]


def site_of(tmp_path, name="site"):
    cfg = config(tmp_path, out=tmp_path / name, techniques=("feature_maps", "brightness"))
    report = build(cfg, Silent())
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    return cfg


def check(tmp_path, cfg, *extra):
    return CliRunner().invoke(main, ["check", str(tmp_path / "baseline"), "--out", str(cfg.out),
                                     "--cache-dir", str(cfg.cache_dir), *extra])


def test_its_page_and_the_per_input_pages_show_it(brightness, tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png", "b.png"))
    cfg = site_of(tmp_path)
    page = (cfg.out / "brightness.html").read_text()
    assert "<h1>Brightness (a technique from elsewhere)</h1>" in page  # page.html, extended by its own template
    manifest = json.loads((cfg.out / "manifest.json").read_text())
    shown = [a for a in manifest["artifacts"] if a["technique"] == "brightness"]
    assert len(shown) == 2 and all(a["files"]["picture"]["path"] in page for a in shown)
    assert page.count("mean brightness ") == 2
    assert 'href="brightness.html"' in (cfg.out / "index.html").read_text()  # in the navigation
    for artifact in shown:
        image = next(i for i in manifest["images"] if i["name"] == artifact["image"])
        own = (cfg.out / image["page"]).read_text()
        assert "Brightness (a technique from elsewhere)" in own and artifact["files"]["picture"]["path"] in own
        assert f'<div class="caption">brightness {artifact["meta"]["mean"]:.1f}</div>' in own


def test_list_params_lists_its_fields(brightness):
    listed = CliRunner().invoke(main, ["list", "params", "brightness"])
    assert listed.exit_code == 0, listed.output
    assert "--set brightness.FIELD=VALUE" in listed.stdout
    assert "gray (bool) = false" in listed.stdout.lower() and "show the input in grayscale" in listed.stdout


def test_the_regression_check_passes_it_unchanged_and_fails_it_changed(brightness, tmp_path, monkeypatch):
    write_inputs(tmp_path / "inputs", names=("a.png",))
    cfg = site_of(tmp_path)
    promoted = check(tmp_path, cfg, "--update")
    assert promoted.exit_code == 0, promoted.output
    assert check(tmp_path, cfg).exit_code == 0
    monkeypatch.setattr(Brightness, "darken", 80)
    monkeypatch.setattr(Brightness, "version", 2)  # a new version: computed again, compared as the same artifact
    changed = check(tmp_path, site_of(tmp_path, "changed"))
    assert changed.exit_code == 1, changed.output
    assert "brightness" in changed.output
