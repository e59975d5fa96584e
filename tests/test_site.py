import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reportgen.pipeline import build
from reportgen.progress import Silent
from reportgen.site import MARKER, SiteError, write_site
from helpers import config, write_inputs

HOSTILE = "<img src=x onerror=alert(1)> #?%'\" ü.png"


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs)


@pytest.fixture
def built(tmp_path):
    write_inputs(tmp_path / "inputs", names=("a.png", HOSTILE))
    cfg = config(tmp_path)
    report = build(cfg, Silent())
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    return cfg, report


def test_site_has_pages_marker_and_nojekyll(built):
    cfg, _ = built
    names = {p.name for p in cfg.out.iterdir()}
    assert {"index.html", "feature_maps.html", "filters.html", "style.css", ".nojekyll", MARKER, "manifest.json"} <= names
    site = json.loads((cfg.out / "manifest.json").read_text())
    assert all(a["anchor"] for a in site["artifacts"])


def test_links_are_relative_and_resolve_and_images_have_sizes(built):
    cfg, _ = built
    for page in cfg.out.glob("*.html"):
        parser = Links()
        parser.feed(page.read_text())
        for link in parser.links + [i["src"] for i in parser.images]:
            assert not re.match(r"^(/|[a-z]+:)", link), link
            assert (cfg.out / link.split("#")[0]).exists() or link.startswith("#"), (page.name, link)
        for image in parser.images:
            assert int(image["width"]) > 0 and int(image["height"]) > 0 and image["loading"] == "lazy"


def test_hostile_file_names_are_escaped_text(built):
    cfg, _ = built
    html = "".join(p.read_text() for p in cfg.out.glob("*.html"))
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_every_page_shows_top5_predictions(built):
    cfg, _ = built
    for page in ("feature_maps.html", "filters.html"):
        text = (cfg.out / page).read_text()
        assert text.count("<li>thing ") == 2 * 5


def test_rebuild_is_byte_identical(built, tmp_path):
    cfg, report = built
    before = {p.relative_to(cfg.out): p.read_bytes() for p in cfg.out.rglob("*") if p.is_file()}
    again = build(cfg, Silent())
    write_site(again.manifest, cfg.cache_dir, again.images, cfg.out)
    after = {p.relative_to(cfg.out): p.read_bytes() for p in cfg.out.rglob("*") if p.is_file()}
    assert before == after


def test_refuses_to_replace_a_folder_it_did_not_write(built, tmp_path):
    cfg, report = built
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(SiteError, match="not a reportgen site"):
        write_site(report.manifest, cfg.cache_dir, report.images, foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_untrained_models_are_labelled_on_every_page(tmp_path):
    write_inputs(tmp_path / "inputs")
    cfg = config(tmp_path, weights="random")
    report = build(cfg, Silent())
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    for page in cfg.out.glob("*.html"):
        assert "Untrained weights" in page.read_text()


def test_templates_come_from_the_checkout_when_reportgen_runs_uninstalled(monkeypatch):
    from reportgen import site

    def not_installed(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(site.resources, "files", not_installed)
    assert (site.templates_dir() / "base.html").is_file()


def test_size_summary_passes_over_files_a_racing_build_removed(tmp_path, monkeypatch):
    from reportgen import site

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "kept.png").write_bytes(b"x" * 10)
    (tmp_path / "a" / "gone.png").write_bytes(b"x" * 10)
    stat = Path.stat

    def vanishing(path, *args, **kwargs):
        if path.name == "gone.png":
            raise FileNotFoundError(path)
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", vanishing)
    line, warnings = site.size_summary(tmp_path)
    assert line.startswith("site: 1 files") and warnings == []


class Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = []

    def handle_starttag(self, tag, attrs):
        self.ids += [value for name, value in attrs if name == "id"]


def test_no_page_repeats_an_id_and_every_manifest_anchor_is_an_id_on_its_page(tmp_path):
    from reportgen.techniques.base import registry

    write_inputs(tmp_path / "inputs", names=("a.png", "b.png"))
    gallery = tuple(name for name, technique in registry().items() if technique.gallery)
    cfg = config(tmp_path, techniques=gallery)
    report = build(cfg, Silent())
    assert not report.errors, report.errors
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    pages = sorted(cfg.out.glob("*.html"))
    assert {p.stem for p in pages} >= {"index", *gallery}
    for page in pages:
        parser = Ids()
        parser.feed(page.read_text())
        repeated = sorted({i for i in parser.ids if parser.ids.count(i) > 1})
        assert not repeated, (page.name, repeated)
    ids = {}
    for page in pages:
        parser = Ids()
        parser.feed(page.read_text())
        ids[page.stem] = set(parser.ids)
    site = json.loads((cfg.out / "manifest.json").read_text())
    assert {a["technique"] for a in site["artifacts"]} == {"predictions", *gallery}
    for artifact in site["artifacts"]:
        # predictions feed every section page's table; every other artifact is on its technique's page
        on = gallery if artifact["technique"] == "predictions" else (artifact["technique"],)
        for page in on:
            assert artifact["anchor"] in ids[page], (page, artifact["anchor"])
