"""Faithfulness: which saliency map to trust for this model, measured over the build's images.

Every saliency method is scored beside two maps that know nothing of the model, ``random`` (seeded
noise) and ``centre`` (a centred Gaussian): a metric that does not put a method above them says
nothing about it. One artifact per model.

It reads the saliency technique's cached maps (made with saliency's own settings, computed first
when not cached, also when saliency's page is not asked for): the metrics cost forward passes only.

Parameters: ``methods`` (saliency methods scored), ``steps`` (insertion and deletion fractions),
``road_fractions`` (both shrunk on a costly model to fit ``budget_s``: ``sized``),
``pointing_tolerance`` (pixels at 224 px, scaled to the model's input), ``seed`` (the random
map's), ``batch_size`` (images scored together; their frames go through the model four times
that many at a time, fewer where their activations pass ``budget.FORWARD_MB``). The randomisation
similarity is saliency's last cascade stage (present when saliency's ``sanity`` is on).

Meta: ``scores[METHOD][METRIC]`` (METHOD: each method, ``random``, ``centre``; METRIC:
``insertion``, ``deletion``, ``road_morf``, ``road_lerf``, ``randomisation`` when computed,
``pointing`` when ``boxes.json`` gave boxes), ``curves[METHOD]`` (mean insertion and deletion
curves), ``images``, ``pointing_images``, ``pointing_tolerance_px``, ``input_size``.
Roles: ``scores`` (methods x metrics, the raw numbers, in ``meta.methods`` x ``meta.metrics`` order).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from reportgen.core import meta as metas
from reportgen.attribution.methods import METHODS, every_name
from reportgen.core.choices import check_choices
from reportgen.core.lazy import torch
from reportgen.core.meta import FaithfulnessMeta, FaithfulnessRoles, SaliencyRoles
from reportgen.techniques import faithfulness_view
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, batched, register, not_keyed, request_of
from reportgen.techniques.saliency import _noise_seed

BASELINE_MAPS = ("random", "centre")
# metric -> (title, whether higher is better)
METRICS = {
    "insertion": ("Insertion AUC", True),
    "deletion": ("Deletion AUC", False),
    "road_morf": ("ROAD, most relevant first", False),
    "road_lerf": ("ROAD, least relevant first", True),
    "randomisation": ("Randomisation similarity", False),
    "pointing": ("Pointing game", True),
}


@dataclass(frozen=True)
class Params:
    methods: tuple[str, ...] = field(default_factory=every_name)  # scored among those saliency makes (its settings apply)
    steps: int = 10  # insertion / deletion: fractions 0, 1/steps, ..., 1 of the pixels moved
    road_fractions: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    pointing_tolerance: float = 15.0  # pixels at a 224 px input (TorchRay's), scaled to the model's
    seed: int = 0
    batch_size: int = not_keyed(8, "how many go through the model at once")
    # Seconds one image's curves may take on one model (reportgen/core/budget.py): the insertion and
    # deletion steps shrink (to 5 at the least) until their counted forwards fit; 0: no limit
    budget_s: float = not_keyed(12.0, "the step counts it shrinks are keyed")


@dataclass(frozen=True)
class Scoring:
    """The one artifact per model: the sized settings, and what it scores: the inputs (pixel
    hashes, in this order) and their boxes; the maps it reads are ``Request.reads``."""

    methods: tuple[str, ...]
    steps: int
    road_fractions: tuple[float, ...]
    pointing_tolerance: float
    seed: int
    inputs: tuple[str, ...]
    boxes: tuple[tuple[tuple[float, float, float, float], ...], ...]


@register
class Faithfulness(Technique):
    name = "faithfulness"
    title = "Faithfulness"
    classic = ("Petsiuk, Das & Saenko 2018 (insertion, deletion); Rong et al. 2022 (ROAD); "
               "Adebayo et al. 2018, \u201cSanity checks for saliency maps\u201d; "
               "Zhang et al. 2018 (pointing game)")
    description = (
        "How far each saliency map can be trusted, over all input images: insertion and deletion "
        "(Petsiuk et al. 2018), ROAD (Rong et al. 2022), cascading model randomisation (Adebayo et "
        "al. 2018) and, where boxes.json gives boxes, the pointing game, each method beside a "
        "random map and a centred Gaussian that know nothing of the model."
    )
    version = 1
    Params = Params
    Meta = FaithfulnessMeta
    Roles = FaithfulnessRoles
    presets = {"quick": {"road_fractions": (0.3, 0.7), "budget_s": 0.0}, "full": {"steps": 50, "budget_s": 0.0}}
    reads = "saliency"

    def view(self, manifest, artifacts):
        return faithfulness_view.view(manifest, artifacts)

    def plan(self, params, card, images, context=NO_CONTEXT):
        check_choices("saliency methods", params.methods, METHODS)
        if params.steps < 1 or not params.road_fractions or not all(0 < f < 1 for f in params.road_fractions):
            raise ValueError("steps must be at least 1 and road_fractions between 0 and 1")
        maps = {(request.image.pixel_hash, request.variant): key for request, key in context.upstream}
        ordered = sorted(images, key=lambda image: image.pixel_hash)
        methods = [m for m in params.methods if all((i.pixel_hash, m) in maps for i in ordered)]
        if not ordered or not methods:
            return [self.skip(card, "", "no saliency maps to score")] if ordered else []
        scoring = request_of(Scoring, sized(params, card, len(methods)), methods=tuple(methods),
                             inputs=tuple(image.pixel_hash for image in ordered),
                             boxes=tuple(tuple(image.boxes) for image in ordered))
        reads = {m: [maps[(i.pixel_hash, m)] for i in ordered] for m in methods}
        return [Request("scores", scoring, inputs=tuple(ordered), reads=reads)]

    def gflop(self, params, card, requests):
        return sum(len(r.inputs) * forwards(r.args.steps, r.args.road_fractions, len(r.args.methods)) * card.gflops
                   for r in requests)

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        for request in requests:
            yield request, _score(params, model, request, progress, context.read)


def forwards(steps: int, road_fractions, methods: int) -> int:
    """One image's forwards: every map, the two baselines' included, through both curves and ROAD."""
    return (methods + len(BASELINE_MAPS)) * (2 * (steps + 1) + 2 * len(road_fractions))


def sized(params: Params, card, methods: int) -> Params:
    """``params`` with the insertion / deletion steps (to 5 at the least) and the ROAD fractions (to
    3, spread over the same range) shrunk by one share where one image's forwards (every map, the
    two baselines' included, through both curves and ROAD) would pass ``budget_s``."""
    from reportgen.core.budget import scaled, share

    fraction = share(params.budget_s, forwards(params.steps, params.road_fractions, methods) * card.gflops)
    if fraction == 1.0:
        return params
    fractions, count = params.road_fractions, scaled(len(params.road_fractions), fraction, 3)
    if count < len(fractions):
        fractions = tuple(fractions[round(i * (len(fractions) - 1) / (count - 1))] for i in range(count))
    return replace(params, steps=scaled(params.steps, fraction, 5), road_fractions=fractions)


def _score(params, model, request, progress, read) -> Result:
    from reportgen.attribution import cam, faithfulness as metrics, sanity
    from reportgen.core.budget import frames_per_forward

    scoring: Scoring = request.args
    methods = list(scoring.methods)
    names = methods + list(BASELINE_MAPS)
    network = model.for_gradients()
    size = model.card.input_size
    tolerance = scoring.pointing_tolerance * size / 224
    collected: dict[str, dict[str, list]] = {name: {} for name in names}
    entries = list(enumerate(zip(request.inputs, scoring.boxes)))
    frames = frames_per_forward(4 * params.batch_size, model.card)
    for chunk in batched(entries, params.batch_size):
        inputs = model.inputs([image.pixels for _, (image, _) in chunk])
        height, width = inputs.shape[2:]
        saliency = {m: [_entry(read, request.reads[m][index], m) for index, _ in chunk] for m in methods}
        targets = torch.tensor([e.meta.class_index for e in saliency[methods[0]]], device=inputs.device)
        importance = {m: _importance(cam, sanity, saliency[m], (height, width)).to(inputs.device) for m in methods}
        seeds = [_noise_seed(scoring.seed, image.pixel_hash) for _, (image, _) in chunk]
        importance["random"] = torch.stack([metrics.random_map(height, width, s) for s in seeds]).to(inputs.device)
        importance["centre"] = metrics.centre_map(height, width).to(inputs.device).expand(len(chunk), height, width)
        blur = metrics.blurred(inputs)
        ends = metrics.target_probabilities(network, torch.cat([inputs, blur]), targets.repeat(2), frames).chunk(2)
        for name in names:
            scores = collected[name]
            deletion = metrics.deletion_curves(network, inputs, importance[name], targets, scoring.steps, frames,
                                               ends, blur)
            insertion = metrics.insertion_curves(network, inputs, importance[name], targets, scoring.steps, frames,
                                                 ends, blur)
            scores.setdefault("deletion_curves", []).extend(deletion.double().cpu().numpy())
            scores.setdefault("insertion_curves", []).extend(insertion.double().cpu().numpy())
            for key, first in (("road_morf", True), ("road_lerf", False)):
                curves = metrics.road_curves(network, inputs, importance[name], targets, first, seeds,
                                             scoring.road_fractions, batch_size=frames)
                scores.setdefault(key, []).extend(curves.mean(dim=1).double().cpu().numpy())
            if name in saliency and all(e.meta.randomisation for e in saliency[name]):
                scores.setdefault("randomisation", []).extend(e.meta.spearman for e in saliency[name])
            elif name in BASELINE_MAPS and all(e.meta.randomisation for e in saliency[methods[0]]):
                # A map made without the model is the same on the randomised one.
                maps = importance[name].cpu().numpy()
                scores.setdefault("randomisation", []).extend(sanity.spearman(m, m) for m in maps)
            for row, (_, (image, boxes)) in enumerate(chunk):
                if boxes:
                    fitted = [(x0 * width / image.size[0], y0 * height / image.size[1],
                               x1 * width / image.size[0], y1 * height / image.size[1]) for x0, y0, x1, y1 in boxes]
                    hit = metrics.pointing_hit(importance[name][row].cpu().numpy(), fitted, tolerance)
                    scores.setdefault("pointing", []).append(float(hit))
        progress.tick(chunk[-1][0] + 1, len(entries))
    pointing_images = sum(1 for _, (_, boxes) in entries if boxes)
    return _result(names, collected, len(entries), pointing_images, tolerance, size)


class _Map:
    """One saliency artifact as read from the cache: its typed meta and its raw map."""

    def __init__(self, entry):
        self.meta = metas.load("saliency", entry.meta)
        self.entry = entry


def _entry(read, key, method) -> _Map:
    entry = read(key)
    if entry is None:
        raise RuntimeError(f"the saliency map of {method} is not in the cache (its computation failed)")
    return _Map(entry)


def _importance(cam, sanity, maps, size):
    """Saliency's stored maps -> N x H x W importance as its sanity metrics rank it: Grad-CAM's map
    upsampled to the input, the others' max |value| over channels."""
    if SaliencyRoles.CAM in maps[0].entry.files:
        return cam.upsample(torch.stack([torch.from_numpy(m.entry.array(SaliencyRoles.CAM)) for m in maps]).float(), size)
    return sanity.importance(torch.stack([torch.from_numpy(m.entry.array(SaliencyRoles.ATTRIBUTION)) for m in maps]).float())


def _result(names, collected, images, pointing_images, tolerance, size) -> Result:
    metrics = [m for m in METRICS if m in ("insertion", "deletion", "road_morf", "road_lerf") or m in collected[names[0]]]
    scores, curves = {}, {}
    for name in names:
        values = collected[name]
        insertion = np.mean(values["insertion_curves"], axis=0)
        deletion = np.mean(values["deletion_curves"], axis=0)
        curves[name] = {"insertion": [round(float(v), 4) for v in insertion],
                        "deletion": [round(float(v), 4) for v in deletion]}
        row: dict[str, float | None] = {
            "insertion": _area(insertion), "deletion": _area(deletion),  # = the mean of each image's area
            "road_morf": float(np.mean(values["road_morf"])), "road_lerf": float(np.mean(values["road_lerf"]))}
        if "randomisation" in values:
            defined = [v for v in values["randomisation"] if v is not None]
            row["randomisation"] = float(np.mean(defined)) if defined else None
        if "pointing" in values:
            row["pointing"] = float(np.mean(values["pointing"]))
        scores[name] = {metric: (None if (value := row[metric]) is None else round(value, 6)) for metric in metrics}
    table = np.array([[np.nan if scores[n][m] is None else scores[n][m] for m in metrics] for n in names], dtype=np.float32)
    meta = FaithfulnessMeta(methods=tuple(names), metrics=tuple(metrics), scores=scores, curves=curves, images=images,
                            pointing_images=pointing_images, pointing_tolerance_px=round(tolerance, 3), input_size=size)
    return Result(arrays={FaithfulnessRoles.SCORES: table}, meta=meta)


def _area(curve: np.ndarray) -> float:
    from reportgen.attribution.faithfulness import area_under

    return float(area_under(torch.from_numpy(curve)[None])[0])
