"""What each page shows, built from the manifest in Python: every section's groups already made and
aggregates already computed, so that templates only lay out. Never imports torch."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from reportgen.artifacts import Artifact, Manifest, ModelInfo, Section, find, select
from reportgen.attribution.methods import METHODS, SaliencyMethod
from reportgen import meta, summaries
from reportgen.meta import SaliencyMeta


class Grid:
    """Artifacts by (model, image): the cells of a table with models side by side per image."""

    def __init__(self, artifacts: Iterable[Artifact]):
        self._cells: dict[tuple[str, str | None], list[Artifact]] = {}
        for artifact in artifacts:
            self._cells.setdefault((artifact.model, artifact.image), []).append(artifact)

    def get(self, model: str, image: str | None) -> Artifact | None:
        """The first artifact of the cell."""
        found = self._cells.get((model, image))
        return found[0] if found else None

    def every(self, model: str, image: str | None) -> list[Artifact]:
        """Every artifact of the cell, in build order."""
        return self._cells.get((model, image), [])

    def firsts(self) -> dict[tuple[str, str | None], Artifact]:
        return {key: found[0] for key, found in self._cells.items()}


@dataclass(frozen=True)
class Stage:
    layers: int  # how many top layers were randomised
    rho: float | None  # mean Spearman correlation over the images (None: no image had one)


@dataclass(frozen=True)
class SaliencyMetrics:
    """One model's sanity metrics of one method, averaged over the images."""

    model: str
    stages: list[Stage]
    deletion: float | None
    facts: SaliencyMeta  # the first image's: cam_layer, unguided activations, IG gap

    @property
    def sanity(self) -> bool:
        return bool(self.stages) or self.deletion is not None

    @property
    def randomisation_verdict(self) -> str | None:
        """Whether the map survived the fully randomised model here: "failed" when it still ranks
        pixels much as before (mean rho at or above RANDOMISATION_FAILS), else "passed"."""
        last = self.stages[-1].rho if self.stages else None
        if last is None:
            return None
        return "failed" if last >= RANDOMISATION_FAILS else "passed"

    @property
    def unguided(self) -> int:
        return self.facts.unguided


RANDOMISATION_FAILS = 0.5  # rank correlation with the randomised model's map that counts as no change


@dataclass(frozen=True)
class SaliencyRow:
    method: SaliencyMethod  # its name, title and renderings
    metrics: list[SaliencyMetrics]
    cells: Grid


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def saliency_metrics(model: str, mine: Sequence[Artifact]) -> SaliencyMetrics:
    facts = mine[0].meta
    stages = []
    for index, stage in enumerate(facts.randomisation or ()):
        rhos = [a.meta.randomisation[index].spearman for a in mine]
        stages.append(Stage(stage.layers, _mean([r for r in rhos if r is not None])))
    deletion = _mean([a.meta.deletion_auc for a in mine if a.meta.deletion_auc is not None])
    return SaliencyMetrics(model, stages, deletion, facts)


def saliency(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """One row per method (in the registry's order), its metrics per model; the class explained."""
    rows = []
    for method in METHODS.values():
        shown = [a for a in artifacts if a.variant == method.name]
        if not shown:
            continue
        metrics = [saliency_metrics(m.name, mine) for m in manifest.models
                   if (mine := [a for a in shown if a.model == m.name])]
        rows.append(SaliencyRow(method, metrics, Grid(shown)))
    return {"rows": rows, "explained": Grid(artifacts), "roles": meta.SaliencyRoles}


def feature_maps(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """A block per input image: each model's maps, early layers to late."""
    return {"maps": Grid(artifacts), "roles": meta.FeatureMapRoles}


def filters(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    return {"rows": [(model, select(artifacts, model=model.name)) for model in manifest.models],
            "roles": meta.FilterRoles}


# --- class ascent ----------------------------------------------------------------------------

STYLES = {  # style -> (title, what it does), in the pages' order
    "naive": ("Naive pixel ascent", "Adam on the pixels themselves."),
    "robust": ("Robust: Fourier image and random transforms",
               "Adam on a decorrelated Fourier spectrum whose high frequencies are damped; before every step "
               "the image is padded, randomly shifted, zoomed, turned and colour-shifted, and the model sees it "
               "at its input size."),
}
REGULARISERS = {"none": "No regulariser", "l1": "L1 regulariser", "l2": "L2 regulariser"}


@dataclass(frozen=True)
class Column:
    """A regulariser's column: its label and weight (None for no regulariser)."""

    regulariser: str
    label: str
    weight: float | None


@dataclass(frozen=True)
class ClassRow:
    class_index: int
    class_name: str
    cells: list[Artifact | None]  # one per column


@dataclass(frozen=True)
class StyleTable:
    style: str
    title: str
    about: str
    columns: list[Column]
    rows: list[ClassRow]


@dataclass(frozen=True)
class ModelColumn:
    """A model's part of a page: its tables (class ascent) or its units and atlases (layer ascent)."""

    model: ModelInfo
    tables: list[Any]


def class_ascent(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """Per model, one table per style: rows are classes, columns regularisers."""
    columns = []
    for model in manifest.models:
        mine = select(artifacts, model=model.name)
        if not mine:
            continue
        classes = list(dict.fromkeys(a.spec["class_index"] for a in mine))
        regularisers = list(dict.fromkeys(a.spec["regulariser"] for a in mine))
        tables = []
        for style, (title, about) in STYLES.items():
            styled = select(mine, style=style)
            if not styled:
                continue
            heads = []
            for regulariser in regularisers:
                first = find(styled, regulariser=regulariser)
                weight = first.spec[f"{regulariser}_weight"] if first and regulariser != "none" else None
                heads.append(Column(regulariser, REGULARISERS[regulariser], weight))
            rows = [ClassRow(index, find(mine, class_index=index).meta.class_name,
                             [find(styled, class_index=index, regulariser=r) for r in regularisers])
                    for index in classes]
            tables.append(StyleTable(style, title, about, heads, rows))
        columns.append(ModelColumn(model, tables))
    return {"columns": columns, "roles": meta.AscentRoles}


# --- layer ascent ----------------------------------------------------------------------------

UNIT_STYLES = {"naive": "Naive pixel ascent", "robust": "Robust (Fourier, transforms)"}
ATLAS_MIN_UNITS = 8  # a layer with this many visualised units also gets an atlas of thumbnails


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def unit_anchor(model: str, layer: str, filter_index: int) -> str:
    """A unit's citable address on the layer_ascent page, as Microscope's ``layer:unit`` pages."""
    return f"unit-{slug(model)}-{slug(layer)}-{filter_index}"


@dataclass(frozen=True)
class Atlas:
    """Every visualised unit of one layer of one model, as (filter, anchor, thumbnail artifact,
    its dataset examples or None)."""

    model: str
    layer: str
    units: list[tuple[int, str, Artifact, Artifact | None]]


@dataclass(frozen=True)
class UnitRow:
    """One unit: its address, its visualisation per style shown, its dataset examples."""

    anchor: str
    layer: str
    filter: int
    regulariser: str
    cells: list[Artifact | None]  # one per style shown
    examples: Artifact | None


@dataclass(frozen=True)
class UnitTable:
    styles: list[tuple[str, str]]  # (style, title) shown
    rows: list[UnitRow]
    atlases: list[Atlas]
    any_examples: bool
    folder_images: int | None = None  # images of the examples folder mined (None: the examples are the inputs')


def layer_ascent(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """Per model: a row per unit (its visualisations side by side, then its examples) and an atlas
    for every layer with many units (the robust visualisation where there is one, else the naive)."""
    columns = []
    for model in manifest.models:
        mine = select(artifacts, model=model.name)
        visualisations = [a for a in mine if isinstance(a.meta, meta.UnitMeta)]
        if not visualisations:
            continue
        examples = {(a.meta.layer, a.meta.filter): a for a in mine if isinstance(a.meta, meta.ExamplesMeta)}
        present = {a.meta.style for a in visualisations}
        styles = [(style, title) for style, title in UNIT_STYLES.items() if style in present]
        rows = []
        for first in (a for a in visualisations if a.meta.style == styles[0][0]):
            unit = first.meta
            cells = [find(visualisations, layer=unit.layer, filter=unit.filter, style=style) for style, _ in styles]
            rows.append(UnitRow(unit_anchor(model.name, unit.layer, unit.filter), unit.layer, unit.filter,
                                unit.regulariser, cells, examples.get((unit.layer, unit.filter))))
        folder_images = next((a.meta.images for a in examples.values() if a.meta.images is not None), None)
        columns.append(ModelColumn(model, [UnitTable(styles, rows, _atlases(model.name, visualisations, examples),
                                                     bool(examples), folder_images)]))
    return {"columns": columns, "roles": meta.LayerAscentRoles}


def _atlases(model: str, visualisations: Sequence[Artifact], examples: dict[tuple[str, int], Artifact]) -> list[Atlas]:
    atlases = []
    for layer in dict.fromkeys(a.meta.layer for a in visualisations):
        best: dict[int, Artifact] = {}
        for artifact in (a for a in visualisations if a.meta.layer == layer):
            if artifact.meta.filter not in best or artifact.meta.style == "robust":
                best[artifact.meta.filter] = artifact
        if len(best) >= ATLAS_MIN_UNITS:
            atlases.append(Atlas(model, layer, [(f, unit_anchor(model, layer, f), a, examples.get((layer, f)))
                                                for f, a in sorted(best.items())]))
    return atlases


# --- deep dream ------------------------------------------------------------------------------

DREAM_METHODS = {  # method -> (title, what it does), in the page's order
    "simple": ("Simple gradient ascent", "Adam on the image at its working size; the objective is the mean activation."),
    "octaves": ("Octave pyramid", "The image dreamed from coarse to fine over an image pyramid, the detail carried up "
                "each octave; before every step the image is rolled by a random offset, and the gradient is smoothed "
                "at several scales and normalised; the objective is the L2 norm of the activation."),
}
DREAM_OBJECTIVES = {"one_channel": "one channel", "all_channels": "all channels"}


@dataclass(frozen=True)
class DreamRow:
    """One objective's pictures of one role (the dream, or the image after each octave)."""

    objective: str
    label: str
    role: str
    first: list[Artifact]  # per model that dreamed it: its first artifact (its layer, filter, steps)
    cells: Grid


@dataclass(frozen=True)
class DreamTable:
    method: str
    title: str
    about: str
    rows: list[DreamRow]


def deep_dream(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """One table per method; rows per objective (and, when animated, per octave animation)."""
    tables = []
    for method, (title, about) in DREAM_METHODS.items():
        shown = select(artifacts, method=method)
        if not shown:
            continue
        rows = []
        for objective, label in DREAM_OBJECTIVES.items():
            mine = select(shown, objective=objective)
            if not mine:
                continue
            firsts = [first for model in manifest.models if (first := find(mine, model=model.name))]
            animated = any(meta.DreamRoles.OCTAVES in a.files for a in mine)
            for role in (meta.DreamRoles.DREAM, meta.DreamRoles.OCTAVES) if animated else (meta.DreamRoles.DREAM,):
                rows.append(DreamRow(objective, label, role, firsts, Grid(mine)))
        tables.append(DreamTable(method, title, about, rows))
    return {"tables": tables, "roles": meta.DreamRoles}


# metric -> (column title, higher is better, what it measures, where it comes from)
FAITHFULNESS_METRICS = {
    "insertion": ("Insertion", True, "the explained class's probability as the most important pixels are put back "
                  "into a blurred copy, area under the curve", "Petsiuk et al. 2018 (RISE)"),
    "deletion": ("Deletion", False, "the same as the most important pixels are blurred away from the photo",
                 "Petsiuk et al. 2018 (RISE)"),
    "road_morf": ("ROAD MoRF", False, "the probability with 10-90 % of the pixels removed, most relevant first, "
                  "and filled by noisy linear imputation, so the removed shape does not give the class away",
                  "Rong et al. 2022 (ROAD)"),
    "road_lerf": ("ROAD LeRF", True, "the same with the least relevant pixels removed first",
                  "Rong et al. 2022 (ROAD)"),
    "randomisation": ("Randomisation ρ", False, "Spearman correlation of the map with the same method's map on "
                      "the model with every layer's weights re-drawn: a map that does not change does not depend "
                      "on what the model learned (ranked by its size, |ρ|)", "Adebayo et al. 2018 (Sanity checks)"),
    "pointing": ("Pointing", True, "share of images whose map's maximum lies in a box of boxes.json, within a "
                 "tolerance", "Zhang et al. 2016; TorchRay's protocol"),
}
BASELINE_TITLES = {"random": "Random map (baseline)", "centre": "Centred Gaussian (baseline)"}


@dataclass(frozen=True)
class Score:
    value: float | None
    best: bool  # the best value of the column
    beats_baselines: bool  # better than both baselines (for a method; False for the baselines)


@dataclass(frozen=True)
class ScoredMethod:
    method: str
    title: str
    baseline: bool
    rank: float  # mean rank over the columns (1 = best everywhere)
    scores: list[Score]
    insertion: str  # SVG polyline points of the mean curves
    deletion: str


@dataclass(frozen=True)
class FaithfulnessTable:
    model: ModelInfo
    artifact: Artifact
    metrics: list[tuple[str, str, bool]]  # (metric, column title, higher is better)
    methods: list[ScoredMethod]


def _polyline(values: Sequence[float], width: int = 120, height: int = 32) -> str:
    last = max(len(values) - 1, 1)
    return " ".join(f"{width * i / last:.1f},{height * (1 - v):.1f}" for i, v in enumerate(values))


def _ranks(values: Sequence[float | None], higher_better: bool) -> list[float | None]:
    """1 for the best value, ties sharing their mean rank; None stays None."""
    known = sorted((-v if higher_better else v) for v in values if v is not None)
    position = {}
    for index, value in enumerate(known):
        position.setdefault(value, []).append(index + 1)
    return [None if v is None else _mean(position[-v if higher_better else v]) for v in values]


def faithfulness_table(model: ModelInfo, artifact: Artifact) -> FaithfulnessTable:
    scored = artifact.meta
    names, metrics = list(scored.methods), list(scored.metrics)
    columns = {m: [scored.scores[n][m] for n in names] for m in metrics}
    # A correlation far from zero either way says the map still follows the trained one's ranking.
    judged = {m: [None if v is None else (abs(v) if m == "randomisation" else v) for v in columns[m]] for m in metrics}
    ranks = {m: _ranks(judged[m], FAITHFULNESS_METRICS[m][1]) for m in metrics}
    rows = []
    for row, name in enumerate(names):
        scores = []
        for metric in metrics:
            value, higher = judged[metric][row], FAITHFULNESS_METRICS[metric][1]
            baselines = [judged[metric][names.index(b)] for b in BASELINE_TITLES if judged[metric][names.index(b)] is not None]
            beats = (name not in BASELINE_TITLES and value is not None and bool(baselines)
                     and all((value > b) if higher else (value < b) for b in baselines))
            scores.append(Score(columns[metric][row], ranks[metric][row] == min(r for r in ranks[metric] if r is not None), beats))
        mean_rank = _mean([ranks[m][row] for m in metrics if ranks[m][row] is not None]) or 0.0
        title = BASELINE_TITLES.get(name) or (METHODS[name].title if name in METHODS else name)
        curves = scored.curves[name]
        rows.append(ScoredMethod(name, title, name in BASELINE_TITLES, mean_rank, scores,
                                 _polyline(curves["insertion"]), _polyline(curves["deletion"])))
    rows.sort(key=lambda r: r.rank)
    return FaithfulnessTable(model, artifact, [(m, FAITHFULNESS_METRICS[m][0], FAITHFULNESS_METRICS[m][1]) for m in metrics], rows)


def faithfulness(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    tables = [faithfulness_table(model, mine[0]) for model in manifest.models
              if (mine := [a for a in artifacts if a.model == model.name])]
    return {"tables": tables, "metric_notes": FAITHFULNESS_METRICS}


VIEWS = {"saliency": saliency, "feature_maps": feature_maps, "filters": filters, "class_ascent": class_ascent,
         "layer_ascent": layer_ascent, "deep_dream": deep_dream, "faithfulness": faithfulness}


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
class ImageRow:
    """One variant of a technique on an input's page: a cell per model."""

    title: str
    cells: list[Artifact | None]


@dataclass(frozen=True)
class ImageSection:
    """One technique on an input's page, and where its own page shows the same input."""

    section: Section
    link: str
    page: int
    rows: list[ImageRow]


def _image_rows(technique: str, shown: Sequence[Artifact], models: Sequence[ModelInfo]) -> list[ImageRow]:
    """A row per variant, a cell per model. Feature maps pair each model's layers by their place
    (models have layers of their own names), early to late; the cells then name their layer."""
    per_model = [[a for a in shown if a.model == model.name] for model in models]
    if technique == "feature_maps":
        depth = max(len(mine) for mine in per_model)
        return [ImageRow(f"layer {place + 1} of {depth}", [mine[place] if place < len(mine) else None for mine in per_model])
                for place in range(depth)]
    variants = list(dict.fromkeys(a.variant for a in shown))
    return [ImageRow(variant_title(next(a for a in shown if a.variant == variant)),
                     [next((a for a in mine if a.variant == variant), None) for mine in per_model])
            for variant in variants]


def variant_title(artifact: Artifact) -> str:
    if artifact.technique == "saliency" and artifact.variant in METHODS:
        return METHODS[artifact.variant].title
    if artifact.technique == "deep_dream":
        return f"{DREAM_METHODS[artifact.meta.method][0]}, {DREAM_OBJECTIVES[artifact.meta.objective]}"
    return artifact.variant


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
        view = {"artifacts": artifacts, "skips": self.manifest.skipped(name), **VIEWS[name](self.manifest, artifacts)}
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
            rows = _image_rows(section.name, shown, self.manifest.models)
            page = self.pager(section.name).of(index)
            sections.append(ImageSection(section, f"{page.path}#{shown[0].anchor}", page.number, rows))
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
