"""Which page shows what, built from the manifest in Python: every page's typed view
(``page_views``) made when it is written, each technique's part of it by the technique's class
(``view``, ``image_rows``, ``caption``), so that templates only lay out. Never imports torch."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterator

from markupsafe import Markup

from reportgen.core.artifacts import Artifact, Manifest
from reportgen.attribution.methods import METHODS
from reportgen.gallery import formats, summaries
from reportgen.gallery.page_views import (Card, CaptionedRow, Chrome, ImagePage, ImageSection, IndexPage, MissesPage, MissRow,
                                  Page, Pager, SectionPage, accuracy_rows, distribution_table, misses_lead, prediction,
                                  saliency_map)
from reportgen.techniques.base import registry
from reportgen.techniques.shared_view import Captioned, Grid, slug


# --- pages: every page of the site, its context built when it is written ----------------------

PAGE_COLUMNS = 8  # image x model columns of a technique page at most: the saliency table stays readable
SHEET_SIZE = 240  # thumbnails per contact-sheet page
MISSES_PER_PAGE = 20  # misclassified images per page
IMAGES_FOLDER = "images"  # every input's own page, images/<id>.html


@dataclass(frozen=True)
class Paging:
    """How much a page holds: inputs per technique page (None: as many as ``PAGE_COLUMNS`` allows
    with the models side by side), thumbnails per contact-sheet page, misclassified images per page."""

    images: int | None = None
    sheet: int = SHEET_SIZE
    misses: int = MISSES_PER_PAGE

    def images_per_page(self, models: int) -> int:
        return self.images or max(1, PAGE_COLUMNS // max(1, models))


class Layout:
    """Which page shows what: technique pages with per-image columns are cut into pages of inputs
    (the same inputs on page n of every technique), every input has a page of its own, the index
    holds the first contact sheet of the inputs, and with labels every model a listing of the
    images it gets wrong. Built once, in linear time; each page's context is built when asked."""

    def __init__(self, manifest: Manifest, paging: Paging = Paging()):
        self.manifest = manifest
        self.per_page = paging.images_per_page(len(manifest.models))
        self.position = {image.name: index for index, image in enumerate(manifest.images)}
        self.by_image: dict[str | None, list[Artifact]] = {}
        for artifact in manifest.artifacts:
            self.by_image.setdefault(artifact.image, []).append(artifact)
        with_images = {a.technique for image, found in self.by_image.items() if image is not None for a in found}
        self.paged = [s for s in manifest.sections if s.name in with_images]  # in the navigation's order
        self.predictions = Grid(a for a in manifest.artifacts if a.technique == "predictions")
        self.accuracy = summaries.accuracy(manifest, self.predictions.firsts())
        labelled = any(image.label is not None for image in manifest.images)
        self.distribution = [] if labelled else summaries.distribution(manifest, self.predictions.firsts())
        self.sheet = Pager("inputs", len(manifest.images), paging.sheet, first="index.html")
        self.misses = {a.model.name: Pager(f"errors-{slug(a.model.name)}", len(a.misses), paging.misses)
                       for a in self.accuracy}

    def pager(self, section: str) -> Pager:
        """A technique's pages: one per ``per_page`` inputs where it shows inputs, else one."""
        if any(s.name == section for s in self.paged):
            return Pager(section, len(self.manifest.images), self.per_page)
        return Pager(section, 1, 1)

    def home(self, artifact: Artifact) -> str:
        """The page whose element ``artifact.anchor`` is: its technique's page of its image, the
        technique's page for image-independent artifacts, the input's own page for predictions."""
        if artifact.image is None:
            return f"{artifact.technique}.html"
        index = self.position[artifact.image]
        if artifact.technique == "predictions":
            return image_page(self.manifest.images[index].id)
        return self.pager(artifact.technique).of(index).path

    def chrome(self) -> Chrome:
        """What every page shows: navigation, the models and the build."""
        return Chrome.of(self.manifest, self.predictions)

    def index(self, sheet: Page) -> IndexPage:
        counts = Counter(a.technique for a in self.manifest.artifacts)
        models = self.manifest.models
        return IndexPage(self.chrome().nav("index"), sheet, self.manifest.images[sheet.start:sheet.stop],
                         formats.count(len(self.manifest.images), "input"), formats.count(len(models), "model"),
                         accuracy_rows(self.accuracy, self.misses), self.accuracy[0].k if self.accuracy else 0,
                         [distribution_table(found) for found in self.distribution],
                         [Card(s, f"{counts[s.name]} artifacts", registry()[s.name].classic) for s in self.manifest.sections])

    def section(self, name: str) -> Iterator[tuple[Page, SectionPage]]:
        """Each page of a technique and its view; the technique's view is computed once, over every input."""
        artifacts = self.manifest.of(name)
        view = registry()[name].view(self.manifest, artifacts)
        technique = next(s for s in self.manifest.sections if s.name == name)
        nav = self.chrome().nav(name)
        images = self.manifest.images
        paged = any(s.name == name for s in self.paged)
        for page in self.pager(name).pages():
            shown = images[page.start:page.stop] if paged else images
            # an image-independent page lists the predictions only while they fit on one page
            predicted = shown if paged or len(images) <= self.per_page else []
            yield page, SectionPage(nav, technique, page, shown, predicted, artifacts, self.manifest.skipped(name), view)

    def image(self, index: int) -> ImagePage:
        """An input's page: its predictions and every technique x model on it."""
        images = self.manifest.images
        image = images[index]
        mine = self.by_image.get(image.name, [])
        sections = []
        for section in self.paged:
            shown = [a for a in mine if a.technique == section.name]
            if not shown:
                continue
            technique = registry()[section.name]
            page = self.pager(section.name).of(index)
            rows = [CaptionedRow(row.title, [Captioned(a, self.caption(technique, a)) if a else None for a in row.cells])
                    for row in technique.image_rows(shown, self.manifest.models)]
            sections.append(ImageSection(section, f"{page.path}#{shown[0].anchor}",
                                         "on its page" + (f" (page {page.number})" if page.number > 1 else ""), rows))
        size = f"{image.width}\u00d7{image.height} px"
        predictions = [prediction(model, image, self.predictions.get(model.name, image.name)) for model in self.manifest.models]
        return ImagePage(self.chrome().nav(), image, size, predictions, sections,
                         images[index - 1] if index > 0 else None, images[index + 1] if index + 1 < len(images) else None,
                         self.sheet.of(index))

    def caption(self, technique, artifact: Artifact) -> str | Markup:
        """An artifact's lines on its input's page: its technique's caption, then the notes of the
        built techniques that read it (faithfulness: the map's scores on this input)."""
        readers = [registry()[s.name] for s in self.manifest.sections if registry()[s.name].reads == technique.name]
        lines = [line for line in [technique.caption(artifact)] +
                 [reader.input_note(artifact, self.manifest.of(reader.name)) for reader in readers] if line]
        return lines[0] if len(lines) == 1 else Markup("<br>").join(lines)

    def misses_pages(self) -> Iterator[tuple[Page, MissesPage]]:
        """Per model with labels, the images whose top-1 class is not their label, with their saliency maps."""
        saliency = any(s.name == "saliency" for s in self.paged)
        for found in self.accuracy:
            for page in self.misses[found.model.name].pages():
                rows = [MissRow(miss, [saliency_map(a, METHODS[a.variant].renderings[0][0], METHODS[a.variant].title)
                                 for a in self.by_image.get(miss.image.name, [])
                                 if a.technique == "saliency" and a.model == found.model.name and a.variant in METHODS])
                        for miss in found.misses[page.start:page.stop]]
                yield page, MissesPage(self.chrome().nav(), found, misses_lead(found, saliency), saliency, rows, page)


def image_page(image_id: str) -> str:
    return f"{IMAGES_FOLDER}/{image_id}.html"
