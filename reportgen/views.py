"""Which page shows what, built from the manifest in Python: every page's context made when it is
written, each technique's part of it by the technique's class (``view``, ``image_rows``), so that
templates only lay out. Never imports torch."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

from reportgen.artifacts import Artifact, Manifest, Section
from reportgen.attribution.methods import METHODS
from reportgen import summaries
from reportgen.techniques.base import Technique, registry
from reportgen.techniques.shared_view import Grid, ImageRow, slug


# --- pages: every page of the site, its context built when it is written ----------------------

PAGE_COLUMNS = 8  # image x model columns of a technique page at most: the saliency table stays readable
SHEET_SIZE = 240  # thumbnails per contact-sheet page
MISSES_PER_PAGE = 20  # misclassified images per page
PAGER_REACH = 2  # page numbers linked either side of the current one (and the first and last)
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


@dataclass(frozen=True)
class Pager:
    """A listing of ``items`` cut into pages of ``size``: page 1 is ``first`` (default
    ``{stem}.html``), page n ``{stem}-{n}.html``."""

    stem: str
    items: int
    size: int
    first: str | None = None

    @property
    def count(self) -> int:
        return max(1, -(-self.items // self.size))

    def path(self, number: int) -> str:
        return (self.first or f"{self.stem}.html") if number == 1 else f"{self.stem}-{number}.html"

    def of(self, index: int) -> "Page":
        """The page that holds item ``index`` (0-based)."""
        return Page(self, index // self.size + 1)

    def pages(self) -> Iterator["Page"]:
        return (Page(self, number) for number in range(1, self.count + 1))


@dataclass(frozen=True)
class Page:
    pager: Pager
    number: int

    @property
    def path(self) -> str:
        return self.pager.path(self.number)

    @property
    def start(self) -> int:
        return (self.number - 1) * self.pager.size

    @property
    def stop(self) -> int:
        return min(self.number * self.pager.size, self.pager.items)

    @property
    def previous(self) -> str | None:
        return self.pager.path(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.pager.path(self.number + 1) if self.number < self.pager.count else None

    def links(self) -> list[tuple[int, str] | None]:
        """The first and last page and those near this one, as (number, path); None marks a gap.
        Bounded, so a pager stays small however many pages there are."""
        near = range(max(1, self.number - PAGER_REACH), min(self.pager.count, self.number + PAGER_REACH) + 1)
        shown = sorted({1, self.pager.count, *near})
        links: list[tuple[int, str] | None] = []
        for number in shown:
            if links and links[-1] is not None and number > links[-1][0] + 1:
                links.append(None)
            links.append((number, self.pager.path(number)))
        return links


@dataclass(frozen=True)
class ImageSection:
    """One technique on an input's page, and where its own page shows the same input."""

    section: Section
    technique: Technique  # its captions
    link: str
    page: int
    rows: list[ImageRow]


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

    def common(self) -> dict[str, Any]:
        """What every page shows: navigation, the models and the build."""
        return {"site": self.manifest, "models": self.manifest.models, "sections": self.manifest.sections,
                "untrained": self.manifest.untrained, "predictions": self.predictions, "base": ""}

    def index(self, sheet: Page) -> dict[str, Any]:
        counts = Counter(a.technique for a in self.manifest.artifacts)
        return {"page": "index", "counts": {s.name: counts[s.name] for s in self.manifest.sections},
                "images": self.manifest.images, "sheet": self.manifest.images[sheet.start:sheet.stop], "listing": sheet,
                "accuracy": self.accuracy, "distribution": self.distribution, "misses": self.misses}

    def section(self, name: str) -> Iterator[tuple[Page, dict[str, Any]]]:
        """Each page of a technique and its context; the view is computed once, over every input."""
        artifacts = self.manifest.of(name)
        view = {"artifacts": artifacts, "skips": self.manifest.skipped(name), **registry()[name].view(self.manifest, artifacts)}
        technique = next(s for s in self.manifest.sections if s.name == name)
        images = self.manifest.images
        paged = any(s.name == name for s in self.paged)
        for page in self.pager(name).pages():
            shown = images[page.start:page.stop] if paged else images
            # an image-independent page lists the predictions only while they fit on one page
            predicted = shown if paged or len(images) <= self.per_page else ()
            yield page, {"page": name, "technique": technique, "listing": page, "images": shown,
                         "predicted": predicted, **view}

    def image(self, index: int) -> dict[str, Any]:
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
            sections.append(ImageSection(section, technique, f"{page.path}#{shown[0].anchor}", page.number,
                                         technique.image_rows(shown, self.manifest.models)))
        return {"page": image.page, "base": "../", "image": image, "shown_techniques": sections,
                "ranks": {top.model: summaries.label_rank(image.label, top) for top in mine
                          if top.technique == "predictions" and image.label is not None},
                "previous": images[index - 1] if index > 0 else None,
                "next": images[index + 1] if index + 1 < len(images) else None,
                "sheet": self.sheet.of(index), "per_page": self.per_page}

    def misses_pages(self) -> Iterator[tuple[Page, dict[str, Any]]]:
        """Per model with labels, the images whose top-1 class is not their label, with their saliency maps."""
        for found in self.accuracy:
            for page in self.misses[found.model.name].pages():
                rows = [MissRow(miss, [SaliencyMap(a, METHODS[a.variant].renderings[0][0], METHODS[a.variant].title)
                                       for a in self.by_image.get(miss.image.name, [])
                                       if a.technique == "saliency" and a.model == found.model.name and a.variant in METHODS])
                        for miss in found.misses[page.start:page.stop]]
                yield page, {"page": page.path, "accuracy": found, "rows": rows, "listing": page,
                             "saliency": any(s.name == "saliency" for s in self.paged)}


@dataclass(frozen=True)
class SaliencyMap:
    artifact: Artifact
    role: str  # its method's first rendering
    title: str


@dataclass(frozen=True)
class MissRow:
    miss: summaries.Miss
    maps: list[SaliencyMap]


def image_page(image_id: str) -> str:
    return f"{IMAGES_FOLDER}/{image_id}.html"
