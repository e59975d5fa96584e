"""What the faithfulness page shows: per model, the methods ranked over the metrics against two
baseline maps, with their mean curves. Torch-free (``shared_view``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup

from reportgen.gallery import formats
from reportgen.core.artifacts import Artifact, Manifest, ModelInfo
from reportgen.attribution.methods import METHODS
from reportgen.core.meta import FaithfulnessMeta
from reportgen.techniques.shared_view import mean, meta_of


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
BASELINES_NOTE = Markup(
    "The <em>random map</em> (seeded noise) and the <em>centred Gaussian</em> know nothing of the model: a method "
    "that does not beat them on a metric is not shown to be faithful by it. A number marked &#10003; beats both "
    "baselines; the best of each column is in bold.")


@dataclass(frozen=True)
class MetricNote:
    """What a metric measures, for the page's legend."""

    title: str
    direction: str  # "higher is better" or "lower is better"
    what: str
    source: str


def metric_notes() -> list[MetricNote]:
    return [MetricNote(title, "higher is better" if higher else "lower is better", what, source)
            for title, higher, what, source in FAITHFULNESS_METRICS.values()]


@dataclass(frozen=True)
class MetricColumn:
    metric: str
    title: str
    higher_better: bool

    @property
    def arrow(self) -> Markup:
        return Markup("&uarr;" if self.higher_better else "&darr;")


@dataclass(frozen=True)
class Score:
    value: float | None
    best: bool  # the best value of the column
    beats_baselines: bool  # better than both baselines (for a method; False for the baselines)

    @property
    def text(self) -> str:
        return "" if self.value is None else formats.score(self.value)


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
    metrics: list[MetricColumn]
    methods: list[ScoredMethod]

    @property
    def about(self) -> str:
        """Over how many images it was measured, and the pointing game's."""
        meta = meta_of(self.artifact, FaithfulnessMeta)
        about = f"{meta.images} image(s)"
        if meta.pointing_images:
            about += (f"; pointing game on {meta.pointing_images} image(s) with boxes, tolerance "
                      f"{meta.pointing_tolerance_px} px at {meta.input_size} px")
        return about + "."


def _polyline(values: Sequence[float], width: int = 120, height: int = 32) -> str:
    last = max(len(values) - 1, 1)
    return " ".join(f"{width * i / last:.1f},{height * (1 - v):.1f}" for i, v in enumerate(values))


def _ranks(values: Sequence[float | None], higher_better: bool) -> list[float | None]:
    """1 for the best value, ties sharing their mean rank; None stays None."""
    known = sorted((-v if higher_better else v) for v in values if v is not None)
    position: dict[float, list[int]] = {}
    for index, value in enumerate(known):
        position.setdefault(value, []).append(index + 1)
    return [None if v is None else mean(position[-v if higher_better else v]) for v in values]


def faithfulness_table(model: ModelInfo, artifact: Artifact) -> FaithfulnessTable:
    scored = meta_of(artifact, FaithfulnessMeta)
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
            baselines = [b for base in BASELINE_TITLES if (b := judged[metric][names.index(base)]) is not None]
            beats = (name not in BASELINE_TITLES and value is not None and bool(baselines)
                     and all((value > b) if higher else (value < b) for b in baselines))
            scores.append(Score(columns[metric][row], ranks[metric][row] == min(r for r in ranks[metric] if r is not None), beats))
        mean_rank = mean([rank for m in metrics if (rank := ranks[m][row]) is not None]) or 0.0
        title = BASELINE_TITLES.get(name) or (METHODS[name].title if name in METHODS else name)
        curves = scored.curves[name]
        rows.append(ScoredMethod(name, title, name in BASELINE_TITLES, mean_rank, scores,
                                 _polyline(curves["insertion"]), _polyline(curves["deletion"])))
    rows.sort(key=lambda r: r.rank)
    return FaithfulnessTable(model, artifact, [MetricColumn(m, *FAITHFULNESS_METRICS[m][:2]) for m in metrics], rows)


@dataclass(frozen=True)
class FaithfulnessView:
    tables: list[FaithfulnessTable]
    notes: list[MetricNote]
    baselines_note: Markup


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> FaithfulnessView:
    tables = [faithfulness_table(model, mine[0]) for model in manifest.models
              if (mine := [a for a in artifacts if a.model == model.name])]
    return FaithfulnessView(tables, metric_notes(), BASELINES_NOTE)
