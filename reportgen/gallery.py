"""What each gallery page shows, built from the manifest in Python: groups already made and
aggregates already computed, so that templates only display. Never imports torch."""
from __future__ import annotations

import re

from dataclasses import dataclass, field
from typing import Any, Sequence

from reportgen.artifacts import Artifact, ImageInfo, Manifest, ModelInfo, select
from reportgen.choices import SALIENCY_METHODS

# How the saliency page names each method and which renderings it shows, in the page's order.
_COLOUR_AND_GRAY = (("color", "colour"), ("gray", "gray"))
SALIENCY_ROWS = {
    "vanilla": ("Vanilla backpropagation", _COLOUR_AND_GRAY),
    "deconvnet": ("DeconvNet", _COLOUR_AND_GRAY),
    "guided": ("Guided backpropagation", _COLOUR_AND_GRAY),
    "gradcam": ("Grad-CAM", (("overlay", "heat map"),)),
    "guided_gradcam": ("Guided Grad-CAM", _COLOUR_AND_GRAY),
    "smoothgrad": ("SmoothGrad", _COLOUR_AND_GRAY),
    "integrated_gradients": ("Integrated Gradients", _COLOUR_AND_GRAY),
}
assert tuple(SALIENCY_ROWS) == SALIENCY_METHODS, "every saliency method needs a row on its page"


class Grid:
    """Artifacts by (model, image): the cells of a table with models side by side per image."""

    def __init__(self, artifacts: Sequence[Artifact]):
        self._cells: dict[tuple[str, str | None], Artifact] = {}
        for artifact in artifacts:
            self._cells.setdefault((artifact.model, artifact.image), artifact)

    def get(self, model: str, image: str | None) -> Artifact | None:
        return self._cells.get((model, image))


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
    facts: dict[str, Any]  # the first image's meta: cam_layer, unguided activations, IG gap

    @property
    def sanity(self) -> bool:
        return bool(self.stages) or self.deletion is not None

    @property
    def unguided(self) -> int:
        return self.facts.get("unguided_modules", 0) + self.facts.get("unguided_calls", 0)


@dataclass(frozen=True)
class SaliencyRow:
    method: str
    title: str
    renderings: Sequence[tuple[str, str]]  # (role, label)
    metrics: list[SaliencyMetrics]
    cells: Grid


@dataclass(frozen=True)
class ImageBlock:
    """One input image's block: per model, its artifacts in build order."""

    image: ImageInfo
    models: list[tuple[ModelInfo, list[Artifact]]] = field(default_factory=list)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def saliency_metrics(model: str, mine: Sequence[Artifact]) -> SaliencyMetrics:
    facts = dict(mine[0].meta)
    stages = []
    for index, stage in enumerate(facts.get("randomisation", [])):
        rhos = [a.meta["randomisation"][index]["spearman"] for a in mine]
        stages.append(Stage(stage["layers"], _mean([r for r in rhos if _number(r)])))
    deletion = _mean([a.meta["deletion_auc"] for a in mine if _number(a.meta.get("deletion_auc"))])
    return SaliencyMetrics(model, stages, deletion, facts)


def saliency(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    rows = []
    for method, (title, renderings) in SALIENCY_ROWS.items():
        shown = [a for a in artifacts if a.variant == method]
        if not shown:
            continue
        metrics = [saliency_metrics(m.name, mine) for m in manifest.models
                   if (mine := [a for a in shown if a.model == m.name])]
        rows.append(SaliencyRow(method, title, renderings, metrics, Grid(shown)))
    return {"rows": rows, "explained": Grid(artifacts)}


def feature_maps(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    blocks = [ImageBlock(image, [(model, select(artifacts, model=model.name, image=image.name))
                                 for model in manifest.models])
              for image in manifest.images]
    return {"blocks": blocks}


def filters(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    return {"rows": [(model, select(artifacts, model=model.name)) for model in manifest.models]}


ATLAS_MIN_UNITS = 8  # a layer with this many visualised units also gets an atlas of thumbnails


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def unit_anchor(model: str, layer: str, filter_index: int) -> str:
    """A unit's citable address on the layer_ascent page, as Microscope's ``layer:unit`` pages."""
    return f"unit-{slug(model)}-{slug(layer)}-{filter_index}"


@dataclass(frozen=True)
class Atlas:
    """Every visualised unit of one layer of one model, as (filter, anchor, thumbnail artifact)."""

    model: str
    layer: str
    units: list[tuple[int, str, Artifact]]


def layer_ascent(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """Each unit's anchor, and an atlas for every layer with many units (the robust visualisation
    where there is one, else the naive)."""
    anchors, atlases = {}, []
    for model in manifest.models:
        visualisations = [a for a in artifacts if a.model == model.name and "style" in a.spec]
        for artifact in visualisations:
            anchors[(model.name, artifact.spec["layer"], artifact.spec["filter"])] = unit_anchor(
                model.name, artifact.spec["layer"], artifact.spec["filter"])
        for layer in dict.fromkeys(a.spec["layer"] for a in visualisations):
            best: dict[int, Artifact] = {}
            for artifact in (a for a in visualisations if a.spec["layer"] == layer):
                if artifact.spec["filter"] not in best or artifact.spec["style"] == "robust":
                    best[artifact.spec["filter"]] = artifact
            if len(best) >= ATLAS_MIN_UNITS:
                atlases.append(Atlas(model.name, layer, [(f, unit_anchor(model.name, layer, f), a)
                                                         for f, a in sorted(best.items())]))
    return {"unit_anchors": anchors, "atlases": atlases}


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
                      "on what the model learned", "Adebayo et al. 2018 (Sanity checks)"),
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
    meta = artifact.meta
    names, metrics = list(meta["methods"]), list(meta["metrics"])
    columns = {m: [meta["scores"][n][m] for n in names] for m in metrics}
    ranks = {m: _ranks(columns[m], FAITHFULNESS_METRICS[m][1]) for m in metrics}
    rows = []
    for row, name in enumerate(names):
        scores = []
        for metric in metrics:
            value, higher = columns[metric][row], FAITHFULNESS_METRICS[metric][1]
            baselines = [meta["scores"][b][metric] for b in BASELINE_TITLES if meta["scores"][b][metric] is not None]
            beats = (name not in BASELINE_TITLES and value is not None and bool(baselines)
                     and all((value > b) if higher else (value < b) for b in baselines))
            scores.append(Score(value, ranks[metric][row] == min(r for r in ranks[metric] if r is not None), beats))
        mean_rank = _mean([ranks[m][row] for m in metrics if ranks[m][row] is not None]) or 0.0
        title = BASELINE_TITLES.get(name) or SALIENCY_ROWS.get(name, (name,))[0]
        curves = meta["curves"][name]
        rows.append(ScoredMethod(name, title, name in BASELINE_TITLES, mean_rank, scores,
                                 _polyline(curves["insertion"]), _polyline(curves["deletion"])))
    rows.sort(key=lambda r: r.rank)
    return FaithfulnessTable(model, artifact, [(m, FAITHFULNESS_METRICS[m][0], FAITHFULNESS_METRICS[m][1]) for m in metrics], rows)


def faithfulness(manifest: Manifest, artifacts: Sequence[Artifact]) -> dict[str, Any]:
    tables = [faithfulness_table(model, mine[0]) for model in manifest.models
              if (mine := [a for a in artifacts if a.model == model.name])]
    return {"tables": tables, "metric_notes": FAITHFULNESS_METRICS}


VIEWS = {"saliency": saliency, "feature_maps": feature_maps, "filters": filters, "layer_ascent": layer_ascent,
         "faithfulness": faithfulness}


def common(manifest: Manifest) -> dict[str, Any]:
    """What every page shows: navigation, the models, the inputs and every model's predictions."""
    return {
        "site": manifest,
        "models": manifest.models,
        "images": manifest.images,
        "predictions": manifest.predictions(),
        "sections": manifest.sections,
        "untrained": manifest.untrained,
    }


def index(manifest: Manifest) -> dict[str, Any]:
    return {"counts": {s.name: len(manifest.of(s.name)) for s in manifest.sections}}


def section(manifest: Manifest, name: str) -> dict[str, Any]:
    """A section page's context: its artifacts, and the groups its view builds. Templates of
    techniques without a view here group with the ``select`` and ``find`` globals, which fail on an
    unknown criterion as the manifest's lookups do."""
    artifacts = manifest.of(name)
    context: dict[str, Any] = {"artifacts": artifacts, "skips": manifest.skipped(name)}
    view = VIEWS.get(name)
    if view is not None:
        context.update(view(manifest, artifacts))
    return context
