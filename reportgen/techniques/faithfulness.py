"""Faithfulness: which saliency map to trust for this model, measured over the build's images.

Every saliency method is scored beside two maps that know nothing of the model, ``random`` (seeded
noise) and ``centre`` (a centred Gaussian): a metric that does not put a method above them says
nothing about it. One artifact per model.

It reads the saliency technique's cached maps (made with saliency's own settings, computed first
when not cached, also when saliency's page is not asked for): the metrics cost forward passes only,
without gradients. Every frame of every map of a batch of images goes through the model in full
batches; maps proportional to another (Grad-CAM and HiResCAM where the CAM layer feeds global
average pooling) are scored once.

Parameters: ``methods`` (saliency methods scored), ``steps`` (insertion and deletion fractions),
``road_fractions`` (both shrunk on a costly model to fit ``budget_s``: ``sized``),
``pointing_tolerance`` (pixels at 224 px, scaled to the model's input), ``seed`` (the random
map's), ``batch_size`` (images scored together; their frames go through the model four times
that many at a time, fewer where their activations pass ``budget.FORWARD_MB``). The randomisation
similarity is saliency's last cascade stage (present when saliency's ``sanity`` is on).

Meta: ``scores[METHOD][METRIC]`` (METHOD: each method, ``random``, ``centre``; METRIC:
``insertion``, ``deletion``, ``road_morf``, ``road_lerf``, ``randomisation`` when computed,
``pointing`` when ``boxes.json`` gave boxes), ``per_image[METHOD][METRIC]`` (each image's, in the
request's ``inputs`` order: the page's intervals and ranks are drawn from them), ``curves[METHOD]``
(mean insertion and deletion curves), ``proportional`` (groups of methods whose maps are equal up to
a positive factor on every image: scored once, their scores are equal), ``images``,
``pointing_images``, ``pointing_tolerance_px``, ``input_size``.
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
    version = 2  # 2: per-image scores, proportional maps scored once, frames batched across maps
    Params = Params
    Meta = FaithfulnessMeta
    Roles = FaithfulnessRoles
    presets = {"quick": {"road_fractions": (0.3, 0.7), "budget_s": 0.0}, "full": {"steps": 50, "budget_s": 0.0}}
    reads = "saliency"

    def view(self, manifest, artifacts):
        return faithfulness_view.view(manifest, artifacts)

    def input_note(self, artifact, own):
        return faithfulness_view.input_note(artifact, own)

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
    from reportgen.attribution import faithfulness as metrics
    from reportgen.core.budget import frames_per_forward

    scoring: Scoring = request.args
    methods = list(scoring.methods)
    names = methods + list(BASELINE_MAPS)
    network = model.for_gradients()
    size = model.card.input_size
    tolerance = scoring.pointing_tolerance * size / 224
    per_image: dict[str, dict[str, list]] = {name: {} for name in names}
    together = {name: set(names) for name in names}  # the names whose maps were proportional on every image so far
    entries = list(enumerate(zip(request.inputs, scoring.boxes)))
    frames = frames_per_forward(4 * params.batch_size, model.card)
    for chunk in batched(entries, params.batch_size):
        with torch.inference_mode():
            inputs = model.inputs([image.pixels for _, (image, _) in chunk])
            saliency = {m: [_entry(read, request.reads[m][index], m) for index, _ in chunk] for m in methods}
            importance = _importance_maps(saliency, inputs, scoring.seed, [image for _, (image, _) in chunk])
            cam_feeds_pooling = _cam_feeds_pooling(saliency)
            groups = metrics.proportional_groups(importance)
            for group in groups:
                for name in group:
                    together[name] &= set(group)
            targets = torch.tensor([e.meta.class_index for e in saliency[methods[0]]], device=inputs.device)
            seeds = [_noise_seed(scoring.seed, image.pixel_hash) for _, (image, _) in chunk]
            scored = _curves(network, inputs, {group[0]: importance[group[0]] for group in groups}, targets, seeds,
                             scoring, frames)
        for group in groups:
            for name in group:
                for key, values in scored[group[0]].items():
                    per_image[name].setdefault(key, []).extend(values)
        for name in names:
            _sanity_and_pointing(per_image[name], name, saliency, importance[name], chunk, methods, tolerance)
        progress.tick(chunk[-1][0] + 1, len(entries))
    proportional = tuple(dict.fromkeys(tuple(n for n in names if n in together[name]) for name in names
                                       if len(together[name]) > 1))
    pointing_images = sum(1 for _, (_, boxes) in entries if boxes)
    return _result(names, per_image, proportional, len(entries), pointing_images, tolerance, size, cam_feeds_pooling)


def _cam_feeds_pooling(saliency) -> bool | None:
    """Whether the CAM layer feeds global average pooling directly (saliency found no reason to warn
    about the head, ``cam_head_note``); None when no method read a CAM layer."""
    cams = [e.meta for entries in saliency.values() for e in entries[:1] if e.meta.cam_layer is not None]
    return all(meta.cam_note is None for meta in cams) if cams else None


def _importance_maps(saliency, inputs, seed, images) -> dict:
    """Each method's and baseline's N x H x W importance at the input size."""
    from reportgen.attribution import cam, faithfulness as metrics, sanity

    height, width = inputs.shape[2:]
    importance = {m: _importance(cam, sanity, maps, (height, width)).to(inputs.device) for m, maps in saliency.items()}
    seeds = [_noise_seed(seed, image.pixel_hash) for image in images]
    importance["random"] = torch.stack([metrics.random_map(height, width, s) for s in seeds]).to(inputs.device)
    importance["centre"] = metrics.centre_map(height, width).to(inputs.device).expand(len(images), height, width)
    return importance


def _curves(network, inputs, importance, targets, seeds, scoring, frames) -> dict[str, dict[str, list]]:
    """Per map: each image's insertion and deletion curve and its ROAD means, every frame of every
    map through the model in full batches. The photo's and the blurred copy's probabilities (each
    curve's ends) are measured once, and ROAD's noise drawn once per fraction and image."""
    from reportgen.attribution import faithfulness as metrics

    count = len(inputs)
    blur = metrics.blurred(inputs)
    moved = metrics.moved_counts(inputs.shape[2] * inputs.shape[3], scoring.steps)[1:-1]
    jitter = metrics.road_noise(inputs, seeds, scoring.road_fractions)
    forwards = metrics.Forwards(network, frames)
    ends = forwards.add(torch.cat([inputs, blur]), targets.repeat(2))
    slots = {}
    for name, importance_map in importance.items():
        most_first = metrics.importance_ranks(importance_map)
        slots[name] = {
            "deletion": forwards.add(metrics.transfer_frames(inputs, blur, most_first, moved),
                                     targets.repeat_interleave(len(moved))),
            "insertion": forwards.add(metrics.transfer_frames(blur, inputs, most_first, moved),
                                      targets.repeat_interleave(len(moved))),
            "road_morf": forwards.add(metrics.road_frames(inputs, most_first, jitter, scoring.road_fractions),
                                      targets.repeat_interleave(len(scoring.road_fractions))),
            "road_lerf": forwards.add(metrics.road_frames(inputs, metrics.importance_ranks(-importance_map), jitter,
                                                          scoring.road_fractions),
                                      targets.repeat_interleave(len(scoring.road_fractions))),
        }
    probabilities = forwards.results().double().cpu()
    photo, blurred = probabilities[ends].chunk(2)
    scored = {}
    for name, slot in slots.items():
        deletion = torch.cat([photo[:, None], probabilities[slot["deletion"]].view(count, -1), blurred[:, None]], dim=1)
        insertion = torch.cat([blurred[:, None], probabilities[slot["insertion"]].view(count, -1), photo[:, None]], dim=1)
        scored[name] = {"deletion_curves": list(deletion.numpy()), "insertion_curves": list(insertion.numpy()),
                        "road_morf": list(probabilities[slot["road_morf"]].view(count, -1).mean(dim=1).numpy()),
                        "road_lerf": list(probabilities[slot["road_lerf"]].view(count, -1).mean(dim=1).numpy())}
    return scored


def _sanity_and_pointing(scores, name, saliency, importance, chunk, methods, tolerance) -> None:
    """The randomisation similarity (saliency's, where it made it) and the pointing game of one map
    on the chunk's images, appended to ``scores``."""
    from reportgen.attribution import faithfulness as metrics, sanity

    if name in saliency and all(e.meta.randomisation for e in saliency[name]):
        scores.setdefault("randomisation", []).extend(e.meta.spearman for e in saliency[name])
    elif name in BASELINE_MAPS and all(e.meta.randomisation for e in saliency[methods[0]]):
        # A map made without the model is the same on the randomised one.
        scores.setdefault("randomisation", []).extend(sanity.spearman(m, m) for m in importance.cpu().numpy())
    height, width = importance.shape[1:]
    for row, (_, (image, boxes)) in enumerate(chunk):
        hit = None
        if boxes:
            fitted = [(x0 * width / image.size[0], y0 * height / image.size[1],
                       x1 * width / image.size[0], y1 * height / image.size[1]) for x0, y0, x1, y1 in boxes]
            hit = float(metrics.pointing_hit(importance[row].cpu().numpy(), fitted, tolerance))
        scores.setdefault("pointing", []).append(hit)


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


def _result(names, per_image, proportional, images, pointing_images, tolerance, size, cam_feeds_pooling) -> Result:
    from reportgen.attribution.faithfulness import area_under

    pointing = any(v is not None for v in per_image[names[0]].get("pointing", []))
    metrics = [m for m in METRICS if m in ("insertion", "deletion", "road_morf", "road_lerf")
               or (m == "randomisation" and m in per_image[names[0]]) or (m == "pointing" and pointing)]
    scores, curves, each = {}, {}, {}
    for name in names:
        values = per_image[name]
        insertion, deletion = np.array(values["insertion_curves"]), np.array(values["deletion_curves"])
        curves[name] = {"insertion": [round(float(v), 4) for v in insertion.mean(axis=0)],
                        "deletion": [round(float(v), 4) for v in deletion.mean(axis=0)]}
        rows = {"insertion": area_under(torch.from_numpy(insertion)).tolist(),
                "deletion": area_under(torch.from_numpy(deletion)).tolist(),
                **{metric: values[metric] for metric in metrics if metric in values}}
        each[name] = {metric: [None if v is None else round(float(v), 6) for v in rows[metric]] for metric in metrics}
        scores[name] = {metric: _mean(rows[metric]) for metric in metrics}
    table = np.array([[np.nan if scores[n][m] is None else scores[n][m] for m in metrics] for n in names], dtype=np.float32)
    meta = FaithfulnessMeta(methods=tuple(names), metrics=tuple(metrics), scores=scores, curves=curves, images=images,
                            pointing_images=pointing_images, pointing_tolerance_px=round(tolerance, 3), input_size=size,
                            per_image=each, proportional=proportional, cam_feeds_pooling=cam_feeds_pooling)
    return Result(arrays={FaithfulnessRoles.SCORES: table}, meta=meta)


def _mean(values) -> float | None:
    """The mean over the images where the score is defined, rounded as stored; None where none is."""
    defined = [float(v) for v in values if v is not None]
    return round(float(np.mean(defined)), 6) if defined else None
