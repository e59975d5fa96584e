"""What each kind of page hands its template, typed: the navigation, the overview's summaries, an
input's page, a model's misclassified inputs. Labels and numbers are written here (numbers by
``reportgen.gallery.formats``), so that templates only lay out. Never imports torch."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator, NamedTuple, Sequence

from markupsafe import Markup

from reportgen.gallery import formats, summaries
from reportgen.core.artifacts import Artifact, File, ImageInfo, Manifest, ModelInfo, Section
from reportgen.techniques.shared_view import Captioned, Grid, Size, at_width


PAGER_REACH = 2  # page numbers linked either side of the current one (and the first and last)


# --- listings cut into pages -----------------------------------------------------------------


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

    def of(self, index: int) -> Page:
        """The page that holds item ``index`` (0-based)."""
        return Page(self, index // self.size + 1)

    def pages(self) -> Iterator[Page]:
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
    def first_shown(self) -> int:
        """The 1-based number of its first item, as a reader counts."""
        return self.start + 1

    @property
    def previous(self) -> str | None:
        return self.pager.path(self.number - 1) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.pager.path(self.number + 1) if self.number < self.pager.count else None

    @property
    def many(self) -> bool:
        """Whether the listing has more than one page (and so a pager)."""
        return self.pager.count > 1

    def links(self) -> list["PageLink | None"]:
        """The first and last page and those near this one; None marks a gap. Bounded, so a pager
        stays small however many pages there are."""
        near = range(max(1, self.number - PAGER_REACH), min(self.pager.count, self.number + PAGER_REACH) + 1)
        shown = sorted({1, self.pager.count, *near})
        links: list[PageLink | None] = []
        for number in shown:
            if links and links[-1] is not None and number > links[-1].number + 1:
                links.append(None)
            links.append(PageLink(number, self.pager.path(number), number == self.number))
        return links


class PageLink(NamedTuple):
    number: int
    path: str
    current: bool  # the page it is shown on


def context(*views: Any) -> dict[str, Any]:
    """A template's variables: the fields of each view (shallow: the values stay typed)."""
    return {f.name: getattr(view, f.name) for view in views for f in fields(view)}


@dataclass(frozen=True)
class NavLink:
    path: str
    title: str
    current: bool


@dataclass(frozen=True)
class Chrome:
    """What every page shows around its content: the models, the sections, the build."""

    site: Manifest
    models: list[ModelInfo]
    sections: list[Section]
    predictions: Grid
    untrained: str  # the warning about models with random weights; empty when there are none
    overrides: list[str]  # the build's ``technique.name=value`` settings

    @classmethod
    def of(cls, manifest: Manifest, predictions: Grid) -> "Chrome":
        return cls(manifest, list(manifest.models), list(manifest.sections), predictions,
                   untrained_warning(manifest.untrained),
                   [f"{technique}.{name}={value}" for technique, values in manifest.overrides.items()
                    for name, value in values.items()])

    def nav(self, current: str = "") -> list[NavLink]:
        """The overview and every section; ``current``: the page's own ("index" or a section's name)."""
        return [NavLink("index.html", "Overview", current == "index"),
                *(NavLink(f"{s.name}.html", s.title, current == s.name) for s in self.sections)]


def untrained_warning(untrained: list[str]) -> str:
    if not untrained:
        return ""
    verb = "uses" if len(untrained) == 1 else "use"
    return (f"Untrained weights: {', '.join(untrained)} {verb} random weights (--weights random). Its pictures "
            "show an untrained network, not what a trained one learned.")


# --- the overview and the contact sheet's pages ----------------------------------------------


@dataclass(frozen=True)
class AccuracyRow:
    model: ModelInfo
    top1: str
    topk: str
    other_k: str  # "(top-3)" where this model's k differs from the column's
    labelled: int
    misses: str  # "2 inputs", or "none"
    misses_page: str | None


@dataclass(frozen=True)
class ClassShare:
    label: str | Markup
    images: int
    share: str


@dataclass(frozen=True)
class DistributionTable:
    model: ModelInfo
    heading: str
    rows: list[ClassShare]  # the most frequent classes, then the rest's row where there is one


@dataclass(frozen=True)
class Card:
    section: Section
    count: str
    classic: str = ""  # the classic its technique reproduces, with the paper (``Technique.classic``)


@dataclass(frozen=True)
class IndexPage:
    nav: list[NavLink]
    listing: Page
    sheet: Sequence[ImageInfo]
    inputs: str  # "3 inputs"
    model_count: str
    accuracy: list[AccuracyRow]
    accuracy_k: int  # the top-k column's k (the first model's)
    distribution: list[DistributionTable]
    cards: list[Card]
    base: str = ""


def accuracy_rows(found: list[summaries.Accuracy], misses: dict[str, Any]) -> list[AccuracyRow]:
    k = found[0].k if found else 0
    return [AccuracyRow(a.model, formats.percent(a.top1_share), formats.percent(a.topk_share),
                        f"(top-{a.k})" if a.k != k else "", a.labelled,
                        formats.count(len(a.misses), "input") if a.misses else "none",
                        misses[a.model.name].path(1) if a.misses else None)
            for a in found]


def distribution_table(found: summaries.Distribution) -> DistributionTable:
    rows = [ClassShare(Markup("{} &middot; {}").format(row.class_index, row.class_name), row.images, formats.percent(row.share))
            for row in found.rows]
    if found.rest:
        rows.append(ClassShare(f"{found.classes - len(found.rows)} other classes", found.rest,
                               formats.percent(found.rest / found.images)))
    heading = f"{formats.count(found.classes, 'class', 'classes')} over {formats.count(found.images, 'input')}"
    return DistributionTable(found.model, heading, rows)


# --- an input's own page ---------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """A model's top classes for the input, and where its label stands among them."""

    model: ModelInfo
    top: Artifact | None
    rank: int | None
    verdict: str  # "right", "label at rank 2"...; empty without a label
    passed: bool


def prediction(model: ModelInfo, image: ImageInfo, top: Artifact | None) -> Prediction:
    if top is None or image.label is None:
        return Prediction(model, top, None, "", False)
    rank = summaries.label_rank(image.label, top)
    if rank == 1:
        return Prediction(model, top, rank, "right", True)
    verdict = f"label at rank {rank}" if rank else f"label not in the top {len(summaries.top_of(top))}"
    return Prediction(model, top, rank, verdict, False)


@dataclass(frozen=True)
class CaptionedRow:
    """A variant's row on an input's page: a cell per model (None: the model has none)."""

    title: str
    cells: list[Captioned | None]


@dataclass(frozen=True)
class ImageSection:
    """One technique on an input's page, and where its own page shows the same input."""

    section: Section
    link: str
    where: str  # "on its page", "on its page (page 2)"
    rows: list[CaptionedRow]


@dataclass(frozen=True)
class ImagePage:
    nav: list[NavLink]
    image: ImageInfo
    size: str  # "48×40 px"
    predictions: list[Prediction]
    shown_techniques: list[ImageSection]
    previous: ImageInfo | None
    next: ImageInfo | None
    sheet: Page
    base: str = "../"  # the page lives in images/


# --- a model's misclassified inputs ----------------------------------------------------------


@dataclass(frozen=True)
class SaliencyMap:
    artifact: Artifact
    file: File  # its method's first rendering
    size: Size
    title: str


@dataclass(frozen=True)
class MissRow:
    miss: summaries.Miss
    maps: list[SaliencyMap]


@dataclass(frozen=True)
class MissesPage:
    nav: list[NavLink]
    accuracy: summaries.Accuracy
    lead: str
    saliency: bool  # whether the saliency column is shown
    rows: list[MissRow]
    listing: Page
    base: str = ""


MISS_MAP_PX = 120  # width of each saliency map beside a misclassified input


def saliency_map(artifact: Artifact, role: str, title: str) -> SaliencyMap:
    file = artifact.files[role]
    return SaliencyMap(artifact, file, at_width(file, MISS_MAP_PX), title)


def misses_lead(found: summaries.Accuracy, saliency: bool) -> str:
    lead = (f"{len(found.misses)} of {found.labelled} labelled inputs have another top-1 class than their label "
            f"(top-1 accuracy {formats.percent(found.top1_share)}, top-{found.k} {formats.percent(found.topk_share)}).")
    return lead + (" The saliency maps explain the labelled class." if saliency else "")


# --- a technique's page ----------------------------------------------------------------------


@dataclass(frozen=True)
class SectionPage:
    """A page of a technique: its inputs (``images``), its artifacts and skips, and its own typed
    ``view`` (``Technique.view``) that its template lays out."""

    nav: list[NavLink]
    technique: Section
    listing: Page
    images: Sequence[ImageInfo]
    predicted: Sequence[ImageInfo]  # the inputs whose predictions the page lists (none: too many)
    artifacts: list[Artifact]
    skips: list[Any]
    view: Any
    base: str = ""
