"""Faithfulness: which saliency map to trust for this model, measured over the build's images.

Every saliency method is scored beside two maps that know nothing of the model, ``random`` (seeded
noise) and ``centre`` (a centred Gaussian): a metric that does not put a method above them says
nothing about it. One artifact per model.

Parameters: ``methods`` (saliency methods scored; their map settings as in ``saliency``),
``steps`` (insertion and deletion fractions), ``road_fractions``, ``randomisation`` (the
cascading model-randomisation similarity), ``pointing_tolerance`` (pixels at 224 px, scaled to
the model's input), ``seed``, ``batch_size``.

Meta: ``scores[METHOD][METRIC]`` (METHOD: each method, ``random``, ``centre``; METRIC:
``insertion``, ``deletion``, ``road_morf``, ``road_lerf``, ``randomisation`` when computed,
``pointing`` when ``boxes.json`` gave boxes), ``curves[METHOD]`` (mean insertion and deletion
curves), ``images``, ``pointing_images``, ``pointing_tolerance_px``, ``input_size``.
Roles: ``scores`` (methods x metrics, the raw numbers, in ``meta.methods`` x ``meta.metrics`` order).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from reportgen.choices import CAM_METHODS, SALIENCY_METHODS, check_choice, check_choices
from reportgen.lazy import torch
from reportgen.techniques.base import Request, Result, Technique, batched, register, spec_of
from reportgen.techniques.saliency import IG_BASELINES, _baseline, _noise_seed, _pinned_class, cam_layer_for

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
    methods: tuple[str, ...] = SALIENCY_METHODS
    cam_layer: str = ""  # as saliency's: empty picks the same layer
    smoothgrad_samples: int = 8
    smoothgrad_noise: float = 0.15
    ig_steps: int = 8
    ig_baseline: str = "black"
    steps: int = 20  # insertion / deletion: fractions 0, 1/steps, ..., 1 of the pixels moved
    road_fractions: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    randomisation: bool = True  # similarity of each map to its own on a fully randomised model
    pointing_tolerance: float = 15.0  # pixels at a 224 px input (TorchRay's), scaled to the model's
    seed: int = 0
    batch_size: int = 8


@register
class Faithfulness(Technique):
    name = "faithfulness"
    title = "Faithfulness"
    description = (
        "How far each saliency map can be trusted, over all input images: insertion and deletion "
        "(Petsiuk et al. 2018), ROAD (Rong et al. 2022), cascading model randomisation (Adebayo et "
        "al. 2018) and, where boxes.json gives boxes, the pointing game, each method beside a "
        "random map and a centred Gaussian that know nothing of the model."
    )
    version = 1
    Params = Params
    presets = {
        "quick": {"smoothgrad_samples": 4, "ig_steps": 4, "road_fractions": (0.2, 0.5, 0.8), "randomisation": False},
        "full": {"smoothgrad_samples": 50, "ig_steps": 50, "steps": 50},
    }

    def plan(self, params, card, images):
        check_choices("saliency methods", params.methods, SALIENCY_METHODS)
        check_choice("IG baseline", params.ig_baseline, IG_BASELINES)
        if params.steps < 1 or not params.road_fractions or not all(0 < f < 1 for f in params.road_fractions):
            raise ValueError("steps must be at least 1 and road_fractions between 0 and 1")
        methods, requests = params.methods, []
        cam_layer = cam_layer_for(params, card) if any(m in CAM_METHODS for m in methods) else None
        if cam_layer is None and any(m in CAM_METHODS for m in methods):
            methods = tuple(m for m in methods if m not in CAM_METHODS)
            requests.append(self.skip(card, "gradcam", "Grad-CAM methods left out: no layer with a feature map "
                                                       "that the class score's gradient reaches"))
        if not images:
            return requests
        ordered = sorted(images, key=lambda image: image.pixel_hash)
        spec = spec_of(params, batch_size=None, methods=list(methods), cam_layer=cam_layer or None)
        spec["inputs"] = [image.pixel_hash for image in ordered]
        spec["targets"] = [_pinned_class(card, image) for image in ordered]
        spec["boxes"] = [[list(box) for box in image.boxes] for image in ordered]
        return requests + [Request("scores", spec, inputs=tuple(ordered))]

    def compute(self, params, model, requests, progress):
        for request in requests:
            yield request, _score(params, model, request, progress)


def _score(params, model, request, progress) -> Result:
    from reportgen.attribution import faithfulness as metrics, maps as attribution, sanity
    from reportgen.folding import fold_batch_norms

    spec = request.spec
    methods = list(spec["methods"])
    names = methods + list(BASELINE_MAPS)
    cam_layer = spec.get("cam_layer")
    cam_view = None
    if cam_layer and model.card.layer(cam_layer).layout != "nchw":
        cam_view = functools.partial(model.layer_maps, cam_layer)
    settings = attribution.Settings(cam_layer, params.smoothgrad_noise, params.smoothgrad_samples,
                                    params.ig_steps, params.batch_size, cam_view)
    keep = [cam_layer] if cam_layer else []
    network = model.for_gradients(keep)
    size = model.card.input_size
    tolerance = params.pointing_tolerance * size / 224
    collected: dict[str, dict[str, list]] = {name: {} for name in names}
    pointing_images = 0
    entries = list(zip(request.inputs, spec["targets"], spec["boxes"]))
    for done, chunk in enumerate(batched(entries, params.batch_size), start=1):
        inputs = model.inputs([image.pixels for image, _, _ in chunk])
        seeds = [_noise_seed(params.seed, image.pixel_hash) for image, _, _ in chunk]
        baseline = _baseline(model, params.ig_baseline)
        made = attribution.compute(network, inputs, [t for _, t, _ in chunk], methods, settings, baseline, seeds)
        height, width = inputs.shape[2:]
        importance = {m: made.importance(m).detach().float() for m in methods}
        importance["random"] = torch.stack([metrics.random_map(height, width, s) for s in seeds]).to(inputs.device)
        importance["centre"] = metrics.centre_map(height, width).to(inputs.device).expand(len(chunk), height, width)
        similarity = {}
        if params.randomisation:
            *_, (_, _, randomised) = sanity.cascading_randomisation(model.module, 1, params.seed)
            again = attribution.compute(fold_batch_norms(randomised, model.probe(), keep), inputs,
                                        made.targets.tolist(), methods, settings, baseline, seeds)
            similarity = {m: again.importance(m).detach().float() for m in methods}
            similarity.update({b: importance[b] for b in BASELINE_MAPS})  # they know no model: unchanged
        targets = made.targets
        for name in names:
            scores = collected[name]
            deletion = metrics.deletion_curves(network, inputs, importance[name], targets, params.steps, 4 * params.batch_size)
            insertion = metrics.insertion_curves(network, inputs, importance[name], targets, params.steps, 4 * params.batch_size)
            scores.setdefault("deletion_curves", []).extend(deletion.double().cpu().numpy())
            scores.setdefault("insertion_curves", []).extend(insertion.double().cpu().numpy())
            for key, first in (("road_morf", True), ("road_lerf", False)):
                curves = metrics.road_curves(network, inputs, importance[name], targets, first, seeds,
                                             params.road_fractions, batch_size=4 * params.batch_size)
                scores.setdefault(key, []).extend(curves.mean(dim=1).double().cpu().numpy())
            if similarity:
                before, after = importance[name].cpu().numpy(), similarity[name].cpu().numpy()
                scores.setdefault("randomisation", []).extend(sanity.spearman(a, b) for a, b in zip(before, after))
            for index, (image, _, boxes) in enumerate(chunk):
                if boxes:
                    fitted = [(x0 * width / image.size[0], y0 * height / image.size[1],
                               x1 * width / image.size[0], y1 * height / image.size[1]) for x0, y0, x1, y1 in boxes]
                    hit = metrics.pointing_hit(importance[name][index].cpu().numpy(), fitted, tolerance)
                    scores.setdefault("pointing", []).append(float(hit))
        pointing_images += sum(1 for _, _, boxes in chunk if boxes)
        progress.tick(min(done * params.batch_size, len(entries)), len(entries))
    return _result(names, collected, len(entries), pointing_images, tolerance, size)


def _result(names, collected, images, pointing_images, tolerance, size) -> Result:
    metrics = [m for m in METRICS if m in ("insertion", "deletion", "road_morf", "road_lerf") or m in collected[names[0]]]
    scores, curves = {}, {}
    for name in names:
        values = collected[name]
        insertion = np.mean(values["insertion_curves"], axis=0)
        deletion = np.mean(values["deletion_curves"], axis=0)
        curves[name] = {"insertion": [round(float(v), 4) for v in insertion],
                        "deletion": [round(float(v), 4) for v in deletion]}
        row = {"insertion": _area(insertion), "deletion": _area(deletion),  # = the mean of each image's area
               "road_morf": float(np.mean(values["road_morf"])), "road_lerf": float(np.mean(values["road_lerf"]))}
        if "randomisation" in values:
            defined = [v for v in values["randomisation"] if v is not None]
            row["randomisation"] = float(np.mean(defined)) if defined else None
        if "pointing" in values:
            row["pointing"] = float(np.mean(values["pointing"]))
        scores[name] = {metric: (None if row[metric] is None else round(row[metric], 6)) for metric in metrics}
    table = np.array([[np.nan if scores[n][m] is None else scores[n][m] for m in metrics] for n in names], dtype=np.float32)
    meta = {"scores": scores, "curves": curves, "methods": names, "metrics": metrics, "images": images,
            "pointing_images": pointing_images, "pointing_tolerance_px": round(tolerance, 3), "input_size": size}
    return Result(arrays={"scores": table}, meta=meta)


def _area(curve: np.ndarray) -> float:
    from reportgen.attribution.faithfulness import area_under

    return float(area_under(torch.from_numpy(curve)[None])[0])
