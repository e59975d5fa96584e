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
from reportgen.techniques import faithfulness_stats as stats
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
    "that does not beat them on a metric is not shown to be faithful by it. A number marked &#10003; is ahead of "
    "both baselines; a bold one has rank 1 on its metric (the best, or within noise of it).")
RANKS_NOTE = Markup(
    f"Each mean is followed by its {stats.CONFIDENCE * 100:.0f} % bootstrap interval over the images ({stats.RESAMPLES:,} "
    "resamples of the images, seeded). One method is <em>ahead</em> of another on a metric only where a paired "
    "bootstrap over the same images puts the interval of their mean difference wholly on one side of zero. A "
    "method's rank on a metric is one more than the longest chain of methods, each ahead of the next, that ends "
    "ahead of it: methods within noise of each other share a rank, and one ahead of another ranks above it. The "
    "<em>Rank</em> column orders by the mean of these ranks over the metrics; equal means share a place. "
    "Randomisation is ranked by each image's |&rho;|.")


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
    images: int  # the images it is measured on (every method has a score there)

    @property
    def arrow(self) -> Markup:
        return Markup("&uarr;" if self.higher_better else "&darr;")


@dataclass(frozen=True)
class Score:
    value: float | None
    interval: stats.Interval | None  # of the mean over images
    rank: int | None  # on this metric, shared within noise (``faithfulness_stats``)
    beats_baselines: bool  # ahead of both baselines (for a method; False for the baselines)

    @property
    def best(self) -> bool:
        return self.rank == 1

    @property
    def text(self) -> str:
        return "" if self.value is None else formats.score(self.value)

    @property
    def interval_text(self) -> str:
        if self.interval is None or self.value is None:
            return ""
        return f"[{formats.score(self.interval.low)}, {formats.score(self.interval.high)}]"


@dataclass(frozen=True)
class ScoredMethod:
    method: str
    title: str
    baseline: bool
    mean_rank: float  # mean of its ranks over the metrics
    place: int  # its place in the table; equal mean ranks share one
    scores: list[Score]
    insertion: str  # SVG polyline points of the mean curves
    deletion: str
    same_as: str  # the titles of the methods whose maps are proportional to its own ("" if none)


@dataclass(frozen=True)
class FaithfulnessTable:
    model: ModelInfo
    artifact: Artifact
    metrics: list[MetricColumn]
    methods: list[ScoredMethod]
    proportional: list[Markup]  # one note per group of methods identical by construction

    @property
    def images(self) -> int:
        return meta_of(self.artifact, FaithfulnessMeta).images

    @property
    def about(self) -> str:
        """The table's caption: over how many images it was measured, and the pointing game's."""
        meta = meta_of(self.artifact, FaithfulnessMeta)
        about = f"Means over {formats.count(meta.images, 'image')}, each with its 95 % bootstrap interval"
        if meta.pointing_images:
            about += (f"; pointing game on {formats.count(meta.pointing_images, 'image')} with boxes, tolerance "
                      f"{meta.pointing_tolerance_px} px at {meta.input_size} px")
        return about + "."

    @property
    def indicative(self) -> str:
        """The warning shown when there are too few images for the ranking to mean much."""
        if self.images >= stats.INDICATIVE_BELOW:
            return ""
        return (f"With fewer than {stats.INDICATIVE_BELOW} images the intervals are wide and the bootstrap itself is "
                "rough: this ranking is indicative only. Add images to the input folder for one to rely on.")


def _polyline(values: Sequence[float], width: int = 120, height: int = 32) -> str:
    last = max(len(values) - 1, 1)
    return " ".join(f"{width * i / last:.1f},{height * (1 - v):.1f}" for i, v in enumerate(values))


def _title(name: str) -> str:
    return BASELINE_TITLES.get(name) or (METHODS[name].title if name in METHODS else name)


def _per_image(scored: FaithfulnessMeta, name: str, metric: str, ranked: bool) -> list[float | None]:
    """A method's per-image scores on a metric (the mean alone where a build recorded none);
    ``ranked``: the randomisation similarity as its size, which is what is ranked."""
    values = scored.per_image.get(name, {}).get(metric, [scored.scores[name][metric]])
    return [None if v is None else (abs(v) if ranked and metric == "randomisation" else v) for v in values]


def _joined(titles: Sequence[str]) -> str:
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"


def _places(mean_ranks: Sequence[float]) -> list[int]:
    """1 for the lowest mean rank; equal mean ranks share a place, the next place skips them."""
    return [1 + sum(other < mine for other in mean_ranks) for mine in mean_ranks]


def proportional_notes(scored: FaithfulnessMeta) -> list[Markup]:
    """Why some methods score exactly alike: their maps are equal up to a factor on every image;
    by construction for CAMs where the CAM layer feeds global average pooling directly (saliency's
    reading of the card)."""
    notes = []
    for group in scored.proportional:
        titles = _joined([_title(name) for name in group])
        note = Markup("<strong>{}</strong> give maps equal up to a constant factor on every image, so every metric "
                      "scores them alike: they share each rank and are not ranked apart.").format(titles)
        if scored.cam_feeds_pooling and all(name in METHODS and METHODS[name].uses_cam for name in group):
            note += Markup(" This holds by construction here: the CAM layer feeds global average pooling directly, "
                           "so each cell's gradient is the channel's mean gradient (Draelos &amp; Carin 2020, HiResCAM).")
        notes.append(note)
    return notes


def faithfulness_table(model: ModelInfo, artifact: Artifact) -> FaithfulnessTable:
    scored = meta_of(artifact, FaithfulnessMeta)
    names, metrics = list(scored.methods), list(scored.metrics)
    columns = {m: stats.column([_per_image(scored, n, m, True) for n in names], FAITHFULNESS_METRICS[m][1])
               for m in metrics}
    shown = {m: stats.column([_per_image(scored, n, m, False) for n in names], FAITHFULNESS_METRICS[m][1])
             for m in metrics}
    ranks = {m: columns[m].ranks() for m in metrics}
    intervals = {m: shown[m].intervals() for m in metrics}
    baselines = [names.index(b) for b in BASELINE_TITLES if b in names]
    same = {name: group for group in scored.proportional for name in group}
    rows = []
    for row, name in enumerate(names):
        scores = [Score(scored.scores[name][m], intervals[m][row], ranks[m][row],
                        name not in BASELINE_TITLES and bool(baselines)
                        and all(columns[m].beats(row, b) for b in baselines)) for m in metrics]
        curves = scored.curves[name]
        others = [_title(other) for other in same.get(name, ()) if other != name]
        rows.append((name, scores, curves, _joined(others) if others else ""))
    mean_ranks = [mean([float(s.rank) for s in scores if s.rank is not None]) or 0.0 for _, scores, _, _ in rows]
    places = _places(mean_ranks)
    methods = [ScoredMethod(name, _title(name), name in BASELINE_TITLES, mean_rank, place, scores,
                            _polyline(curves["insertion"]), _polyline(curves["deletion"]), same_as)
               for (name, scores, curves, same_as), mean_rank, place in zip(rows, mean_ranks, places)]
    methods.sort(key=lambda r: r.mean_rank)
    return FaithfulnessTable(model, artifact,
                             [MetricColumn(m, *FAITHFULNESS_METRICS[m][:2], columns[m].images) for m in metrics],
                             methods, proportional_notes(scored))


def input_note(artifact: Artifact, own: Sequence[Artifact]) -> str:
    """A saliency map's faithfulness scores on its own input, for that input's page."""
    scored = next((a for a in own if a.model == artifact.model), None)
    if scored is None or artifact.image_id is None:
        return ""
    meta = meta_of(scored, FaithfulnessMeta)
    index = next((i for i, pixels in enumerate(scored.spec.get("inputs", ())) if pixels.startswith(artifact.image_id)), None)
    values = meta.per_image.get(artifact.variant)
    if index is None or not values:
        return ""
    parts = []
    for metric in meta.metrics:
        value = values[metric][index]
        title, higher = FAITHFULNESS_METRICS[metric][:2]
        if value is not None:
            shown = ("hit" if value else "miss") if metric == "pointing" else formats.score(value)
            parts.append(f"{title} {'↑' if higher else '↓'} {shown}")
    return "faithfulness on this input: " + ", ".join(parts)


@dataclass(frozen=True)
class FaithfulnessView:
    tables: list[FaithfulnessTable]
    notes: list[MetricNote]
    baselines_note: Markup
    ranks_note: Markup


def view(manifest: Manifest, artifacts: Sequence[Artifact]) -> FaithfulnessView:
    tables = [faithfulness_table(model, mine[0]) for model in manifest.models
              if (mine := [a for a in artifacts if a.model == model.name])]
    return FaithfulnessView(tables, metric_notes(), BASELINES_NOTE, RANKS_NOTE)
