import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.gallery.site import MARKER, SiteError, write_site
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
    from reportgen.gallery import site

    def not_installed(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(site.resources, "files", not_installed)
    assert (site.templates_dir() / "base.html").is_file()


def test_size_summary_passes_over_files_a_racing_build_removed(tmp_path, monkeypatch):
    from reportgen.gallery import site

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

    gallery = tuple(name for name, technique in registry().items() if technique.gallery)
    inputs = max(technique.min_inputs for technique in registry().values())  # every technique shows something
    write_inputs(tmp_path / "inputs", names=tuple(f"{chr(ord('a') + n)}.png" for n in range(inputs)))
    cfg = config(tmp_path, techniques=gallery)
    report = build(cfg, Silent())
    assert not report.errors, report.errors
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    pages = sorted(cfg.out.rglob("*.html"))
    assert {p.stem for p in pages} >= {"index", *gallery}
    ids = {}
    for page in pages:
        parser = Ids()
        parser.feed(page.read_text())
        repeated = sorted({i for i in parser.ids if parser.ids.count(i) > 1})
        assert not repeated, (page.name, repeated)
        ids[page.relative_to(cfg.out).as_posix()] = set(parser.ids)
    site = json.loads((cfg.out / "manifest.json").read_text())
    assert {a["technique"] for a in site["artifacts"]} == {"predictions", *gallery}
    for artifact in site["artifacts"]:
        # with a few inputs every technique is one page; predictions live on their input's page and,
        # while the inputs fit on one page, in every technique page's table too
        on = [artifact["page"]] + [f"{name}.html" for name in gallery if artifact["technique"] == "predictions"]
        assert artifact["page"] == (f"{artifact['technique']}.html" if artifact["technique"] != "predictions"
                                    else f"images/{artifact['image_id']}.html")
        for page in on:
            assert artifact["anchor"] in ids[page], (page, artifact["anchor"])


# --- a synthetic dataset: paging, pages per input, summaries, page sizes (no model, no torch) -------

def synthetic(tmp_path, count, models=("m",), labels=None, sections=("feature_maps", "saliency", "filters")):
    """A published-to-be manifest of ``count`` inputs with fake cached pictures: per input and model,
    its predictions, two feature-map layers, a two-rendering saliency map and a Grad-CAM overlay;
    per model a filter grid. ``labels`` maps an input's position to its label."""
    from reportgen.core.artifacts import Artifact, ImageInfo, Manifest, ModelInfo, Section
    from reportgen.pictures.images import InputImage
    from reportgen.core.meta import FeatureMapsMeta, FiltersMeta, Prediction, PredictionsMeta, SaliencyMeta
    from reportgen.pictures.render import png_bytes
    import numpy as np

    cache = tmp_path / "cache"
    (cache / "p").mkdir(parents=True)
    for role in ("grid", "color", "gray", "overlay", "filters"):
        (cache / "p" / f"{role}.png").write_bytes(png_bytes(np.full((8, 12, 3), 90, np.uint8)))
    pixels = np.zeros((10, 12, 3), np.uint8)
    images = [InputImage(f"class {i % 7}/photo {i:05d}.jpg", pixels, f"{i:012x}".ljust(64, "0"),
                         label=None if labels is None else labels(i)) for i in range(count)]
    artifacts, key = [], iter(range(10**9))

    def made(technique, variant, model, image, meta, roles):
        return Artifact(technique, variant, model, image and image.name, image and image.id, {"v": variant, "rgb": True},
                        f"{next(key):040x}", {role: f"p/{role}.png" for role in roles}, meta)

    for model in models:
        for i, image in enumerate(images):
            top = tuple(Prediction((i + rank) % 11, f"class {(i + rank) % 11}", 0.5 / (rank + 1)) for rank in range(5))
            artifacts.append(made("predictions", "top", model, image, PredictionsMeta(top), ()))
            if "feature_maps" in sections:
                artifacts += [made("feature_maps", layer, model, image, FeatureMapsMeta(16, (7, 7)), ("grid",))
                              for layer in ("features.0", "features.8")]
            if "saliency" in sections:
                for method, roles in (("vanilla", ("color", "gray")), ("gradcam", ("overlay",))):
                    facts = SaliencyMeta(method, 1, "class 1", "top-1 prediction", 0.25, i % 11, f"class {i % 11}")
                    artifacts.append(made("saliency", method, model, image, facts, roles))
        if "filters" in sections:
            artifacts.append(made("filters", "conv1.weight", model, None, FiltersMeta((8, 3, 3, 3)), ("filters",)))
    titles = {"feature_maps": "Feature maps", "saliency": "Saliency maps", "filters": "Filters"}
    manifest = Manifest("0.1.0", "quick", {}, "pretrained", {}, ("predictions", *sections),
                        tuple(Section(s, titles[s], "what") for s in sections),
                        tuple(ModelInfo(m, f"w-{m}", False, 32) for m in models),
                        tuple(ImageInfo(i.name, i.id, 12, 10, label=i.label) for i in images), tuple(artifacts))
    return manifest, cache, images


def published(manifest, paging):
    """``manifest`` as the site describes it (pictures, anchors, pages), without copying a file."""
    from dataclasses import replace
    from reportgen.core.artifacts import File
    from reportgen.gallery.views import Layout, image_page

    images = [replace(i, anchor=f"input-{i.id}", page=image_page(i.id), file=File(f"inputs/{i.id}.png", 12, 10),
                      thumbnail=File(f"inputs/{i.id}-thumbnail.png", 12, 10)) for i in manifest.images]
    homes = Layout(manifest, paging)
    artifacts = [replace(a, anchor=f"{a.technique}-{a.key[-8:]}", page=homes.home(a),
                         files={role: File(f"a/{a.key[-8:]}/{role}.png", 12, 8) for role in a.cache_files})
                 for a in manifest.artifacts]
    return Layout(manifest.with_artifacts(artifacts, images), paging)


def test_five_thousand_inputs_give_pages_under_a_megabyte_each(tmp_path):
    from reportgen.gallery.site import pages
    from reportgen.gallery.views import Paging

    manifest, _, _ = synthetic(tmp_path, 5000, labels=lambda i: (7 * i) % 11 if i % 3 else None)
    layout = published(manifest, Paging())
    sizes = {path: len(html) for path, html in pages(layout)}
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] < 1_000_000, (largest, sizes[largest])
    per_page = Paging().images_per_page(1)
    assert sum(path.startswith("images/") for path in sizes) == 5000
    assert f"saliency-{-(-5000 // per_page)}.html" in sizes and f"saliency-{-(-5000 // per_page) + 1}.html" not in sizes
    assert {"index.html", "inputs-2.html", "filters.html", "errors-m.html", "errors-m-2.html"} <= set(sizes)


def _pages(out):
    return sorted(out.rglob("*.html"))


def _ids_and_links(page):
    parser, ids = Links(), Ids()
    text = page.read_text()
    parser.feed(text)
    ids.feed(text)
    return set(ids.ids), parser.links + [i["src"] for i in parser.images], text


def test_paged_site_links_resolve_and_every_anchor_is_an_id_on_its_page(tmp_path):
    from reportgen.gallery.views import Paging

    manifest, cache, images = synthetic(tmp_path, 7, models=("m", "n"), labels=lambda i: (7 * i) % 11)
    out = tmp_path / "site"
    site = write_site(manifest, cache, images, out, Paging(images=2, sheet=3, misses=2))
    pages = {p.relative_to(out).as_posix(): _ids_and_links(p) for p in _pages(out)}
    assert {"saliency.html", "saliency-4.html", "feature_maps-4.html", "filters.html", "index.html", "inputs-3.html",
            "errors-m.html", "errors-n-2.html"} <= set(pages) and "saliency-5.html" not in pages
    for path, (ids, links, text) in pages.items():
        root = out if not path.startswith("images/") else out / "images" / ".."  # <base href="../">
        assert path.startswith("images/") == ('<base href="../">' in text)
        for link in links:
            target, _, fragment = link.partition("#")
            assert not re.match(r"^(/|[a-z]+:)", link) and (root / target).exists(), (path, link)
            if fragment and target.endswith(".html"):
                assert fragment in pages[Path(target).as_posix()][0], (path, link)
    for artifact in site.artifacts:
        assert artifact.anchor in pages[artifact.page][0], (artifact.page, artifact.anchor)
    fifth = site.images[4]
    assert {a.page for a in site.artifacts if a.image == fifth.name} == {"feature_maps-3.html", "saliency-3.html", fifth.page}
    ids, links, text = pages[fifth.page]
    assert "feature_maps-3.html#" in text and "saliency-3.html#" in text and "inputs-2.html#" + fifth.anchor in links
    assert fifth.name not in pages["saliency.html"][2] and fifth.name in pages["saliency-3.html"][2]


def test_accuracy_and_misclassified_inputs_come_from_labels(tmp_path):
    from reportgen.gallery.views import Paging

    # top-1 of input i is class i % 11, then (i + 1) % 11 ...: input 0 is right, 1 has its label at rank 2,
    # 2 is labelled by name (any case), 3 has a label outside the top-5, 4 has none
    labels = {0: 0, 1: 2, 2: "CLASS 2", 3: 9}
    manifest, cache, images = synthetic(tmp_path, 5, labels=labels.get)
    out = tmp_path / "site"
    write_site(manifest, cache, images, out, Paging(misses=1))
    index = (out / "index.html").read_text()
    assert "50.0%" in index and "75.0%" in index and ">2 inputs</a>" in index  # 2 of 4 right at top-1, 3 in the top-5
    wrong = (out / "errors-m.html").read_text() + (out / "errors-m-2.html").read_text()
    assert "photo 00001.jpg" in wrong and "photo 00003.jpg" in wrong and "photo 00000.jpg" not in wrong
    assert 'alt="Grad-CAM map of class 1/photo 00001.jpg"' in wrong
    assert "<strong>class 2</strong>" in wrong  # the label where it ranks among the predictions
    assert "label at rank 2" in (out / "images" / f"{images[1].id}.html").read_text()


def test_without_labels_the_index_lists_the_most_frequent_top1_classes(tmp_path, monkeypatch):
    from reportgen.gallery import summaries

    monkeypatch.setattr(summaries, "DISTRIBUTION_ROWS", 3)
    manifest, cache, images = synthetic(tmp_path, 23)
    write_site(manifest, cache, images, tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert "11 classes over 23 inputs" in index and "8 other classes" in index
    rows = re.findall(r"<td>(\d+) &middot; class \d+</td><td class=\"number\">(\d+)</td>", index)
    assert rows == [("0", "3"), ("1", "2"), ("2", "2")]  # most frequent first, ties by class index
    few, cache, images = synthetic(tmp_path / "few", 5)
    write_site(few, cache, images, tmp_path / "few-site")
    assert 'class="distribution"' not in (tmp_path / "few-site" / "index.html").read_text()  # five inputs: shown one by one
