"""Saliency maps: which pixels the class score is sensitive to, by seven methods of one family.

The three gradient rules (vanilla gradient, DeconvNet, guided backprop) differ only in how ReLUs pass
gradients back, so they share one forward pass; Grad-CAM and guided Grad-CAM ride on the same pass;
SmoothGrad and Integrated Gradients average vanilla gradients over noisy copies / a path from a
baseline. Each map explains one class: the image's pinned label (labels.json) or the top-1
prediction. Optional sanity metrics: the model-randomisation test (Adebayo et al. 2018) and the
deletion score (Petsiuk et al. 2018).
"""
from __future__ import annotations

import functools
import hashlib
import traceback
from dataclasses import dataclass, field, replace

import numpy as np

from reportgen.pictures import render
from reportgen.core.batching import batched_by_image
from reportgen.attribution.methods import METHODS, SaliencyMethod, chosen, every_name
from reportgen.core.choices import check_choice
from reportgen.core.errors import first_line
from reportgen.core.lazy import torch
from reportgen.core.meta import RandomisationStage, SaliencyMeta, SaliencyRoles
from reportgen.models import ModelError
from reportgen.techniques import saliency_view
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, register, not_keyed, request_of
from reportgen.gallery import formats

IG_BASELINES = {"black": 0.0, "white": 1.0, "mean": None}  # pixel value; None = the dataset mean (0 after normalising)
CLASSIC_CAM_LAYERS = {"vgg19": "features.35", "vgg16": "features.29"}  # the last convolution block's ReLU
NOT_CAM_LAYERS = {"MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "SelectAdaptivePool2d",
                  "Dropout", "Dropout2d", "Identity", "Flatten"}
DISPLAY_SIDE = 320  # longer side of the shown pictures, at the input image's aspect ratio


@dataclass(frozen=True)
class Params:
    methods: tuple[str, ...] = field(default_factory=every_name)  # default: every registered method
    cam_layer: str = ""  # empty: the classic one (VGG) or the last feature-map layer before global pooling
    smoothgrad_samples: int = 8
    smoothgrad_noise: float = 0.15  # noise spread as a fraction of the input's value range
    ig_steps: int = 8  # Gauss-Legendre points along the path
    ig_baseline: str = "black"  # black, white or mean (the dataset's mean colour)
    # Score-CAM's and Ablation-CAM's CAM-layer channels per image, one forward each (those with the
    # largest total activation; the others weigh nothing); 0: every channel
    cam_channels: int = 256
    sanity: bool = True  # randomisation test + deletion score
    randomisation_stages: int = 2  # cascade steps from the top layer down; the last randomises all; 0: none
    deletion_steps: int = 10  # 0: no deletion score
    seed: int = 0
    batch_size: int = not_keyed(8, "how many go through the model at once")
    # Seconds one image's maps may take on one model (reportgen/core/budget.py): SmoothGrad's samples and
    # Integrated Gradients' steps (to 4 at the least) and the deletion steps (to 5) shrink until
    # the counted passes fit; 0: no limit
    budget_s: float = not_keyed(10.0, "the step counts it shrinks are keyed")


@dataclass(frozen=True)
class SanityChecks:
    """What every map depends on when the sanity metrics are on."""

    randomisation_stages: int
    deletion_steps: int
    seed: int


@dataclass(frozen=True)
class SaliencyRequest:
    """One image's map by one method: the class it explains (``target``: the pinned one; None: the
    top-1 prediction), the sanity checks when on, and of the other settings only those the method
    reads (its ``key_fields``; the CAM layer for a CAM), so that changing another method's setting
    keeps its cache entries. Unread settings are None."""

    method: str
    sanity: bool
    checks: SanityChecks | None = None
    target: int | None = None
    cam_layer: str | None = None
    smoothgrad_samples: int | None = None
    smoothgrad_noise: float | None = None
    ig_steps: int | None = None
    ig_baseline: str | None = None
    cam_channels: int | None = None
    seed: int | None = None


NO_CAM_LAYER = "no layer with a feature map that the class score's gradient reaches"


class MethodFailed(Exception):
    """Methods that raised on some images; the other methods' maps of those images were stored.
    The first line names each method; the rest of the message holds their tracebacks."""


def applicable(params: Params, card) -> tuple[list[SaliencyMethod], str | None, dict[str, str]]:
    """The chosen methods the model can have, the CAM layer they read (None: none reads one), and
    why each other chosen method does not apply (method -> reason, a plan-time skip)."""
    methods = chosen(params.methods)
    cam_layer = cam_layer_for(params, card) if any(m.uses_cam for m in methods) else None
    reasons = {m.name: NO_CAM_LAYER for m in methods if m.uses_cam and cam_layer is None}
    reasons.update((m.name, reason) for m in methods if m.name not in reasons and (reason := m.unsupported(card)))
    return [m for m in methods if m.name not in reasons], cam_layer, reasons


REARRANGING = {"Permute", "Flatten", "Unflatten"}  # parameter-free reshuffles: never the layer a CAM explains


def cam_layer_for(params: Params, card) -> str | None:
    """The Grad-CAM layer: the chosen one, else the classic one for VGG, else chosen by rule from the
    card's probe (None when the model has no layer the rule accepts).

    Convolutional networks: the last layer with a feature map (more than 1 x 1) that is not pooling
    and that the class score's gradient reaches, widened to the outermost module ending with it
    (``layer4`` rather than ``layer4.2.relu``). Networks with channels-last or token layers
    (transformers): in the order layers finished in the probe, the last inner layer (not the
    network's own stem, final norm or head) whose map the gradient reaches, skipping pooling,
    reshuffles and containers that only pass a child's output on. That is Swin's last stage's last
    block, and ViT's last block's input norm ``ln_1``: its output and everything after it carry
    the class token alone to the head, so their patch tokens get no gradient."""
    if params.cam_layer:
        info = card.layer(params.cam_layer)
        if info.layout is None or not info.spatial:
            raise ModelError(f"{card.name} layer {info.name!r} ({info.type}) has no feature map for Grad-CAM")
        return info.name
    if card.name in CLASSIC_CAM_LAYERS:
        return CLASSIC_CAM_LAYERS[card.name]
    maps = [info for info in card.layers if info.spatial and min(info.spatial) > 1 and info.type not in NOT_CAM_LAYERS
            and info.gradient]
    if any(info.layout in ("nhwc", "tokens") for info in maps):
        inner = [info for info in maps if "." in info.name and info.type not in REARRANGING and not info.relays
                 and info.finish is not None]
        return max(inner, key=lambda info: info.finish).name if inner else None
    if not maps:
        return None
    chosen = maps[-1]
    by_name = {info.name: info for info in card.layers}
    name = chosen.name
    while "." in name:
        parent = by_name.get(name.rsplit(".", 1)[0])
        descendants = [info.name for info in card.layers if info.name.startswith(f"{parent.name}.")] if parent else []
        if not parent or (parent.channels, parent.spatial) != (chosen.channels, chosen.spatial) or descendants[-1] != chosen.name:
            break
        name = parent.name
    return name


@register
class Saliency(Technique):
    """One map per (image, method) explaining one class; the methods are ``attribution.methods``.

    Params: ``methods`` (names), ``cam_layer`` (empty: chosen by ``cam_layer_for``), SmoothGrad's
    ``smoothgrad_samples`` / ``smoothgrad_noise``, Integrated Gradients' ``ig_steps`` /
    ``ig_baseline``, Score-CAM's and Ablation-CAM's ``cam_channels``, ``sanity`` with ``randomisation_stages`` / ``deletion_steps``, ``seed``,
    ``batch_size``, ``budget_s`` (per image; ``sized`` shrinks the samples and steps to fit it). An artifact's key holds only the fields its method reads (``key_fields``).
    Meta: ``SaliencyMeta``: the class explained (``class_index``, ``class_name``, ``class_source``,
    ``probability``), the model's top-1 (``top1_index``, ``top1_name``), and where they apply the
    CAM layer, the activations the ReLU rule missed, the IG completeness gap and the sanity metrics.
    Roles: ``color`` and ``gray`` pictures with an ``attribution`` array; Grad-CAM an ``overlay``
    picture with a ``cam`` array (each method's ``renderings``).
    """
    name = "saliency"
    title = "Saliency maps"
    classic = ("Simonyan, Vedaldi & Zisserman 2014 (data gradients); Zeiler & Fergus 2014 (deconvnet); "
               "Springenberg et al. 2015 (guided backprop); Selvaraju et al. 2017 (Grad-CAM); "
               "Smilkov et al. 2017 (SmoothGrad); Sundararajan et al. 2017 (Integrated Gradients)")
    description = (
        "Which pixels the explained class's score is most sensitive to. Vanilla gradients, DeconvNet "
        "and guided backpropagation differ only in how ReLUs pass gradients back; Grad-CAM weights a "
        "late feature map's channels by their gradient, the rest of the CAM family otherwise (Eigen-CAM "
        "takes the map's first principal component, for no class in particular; Score-CAM and "
        "Ablation-CAM weigh each channel by the class score of the input masked by it, or of the "
        "network without it); SmoothGrad "
        "averages gradients over noisy copies and Integrated Gradients along a path from a baseline image."
    )
    version = 3  # 3: matplotlib's exact jet for the CAM overlays
    Params = Params
    Meta = SaliencyMeta
    Roles = SaliencyRoles
    presets = {
        "quick": {"smoothgrad_samples": 4, "ig_steps": 4, "cam_channels": 64, "sanity": False, "budget_s": 0.0},
        "full": {"smoothgrad_samples": 50, "ig_steps": 50, "cam_channels": 0, "randomisation_stages": 5,
                 "deletion_steps": 32, "budget_s": 0.0},
    }

    def default_layers(self, params, card):
        layer = cam_layer_for(params, card)
        return [layer] if layer else []

    def view(self, manifest, artifacts):
        return saliency_view.view(manifest, artifacts)

    def variant_title(self, artifact):
        return METHODS[artifact.variant].title if artifact.variant in METHODS else artifact.variant

    def caption(self, artifact):
        return f"explains {artifact.meta.class_name}, p = {formats.probability(artifact.meta.probability)}"

    def plan(self, params, card, images, context=NO_CONTEXT):
        methods, cam_layer, reasons = applicable(params, card)
        check_choice("IG baseline", params.ig_baseline, IG_BASELINES)
        requests = [self.skip(card, name, reason) for name, reason in reasons.items()]
        params = sized(params, card, methods, cam_layer)
        checks = request_of(SanityChecks, params) if params.sanity else None
        for image in images:
            target = _pinned_class(card, image)
            for method in methods:
                reads = {name: getattr(params, name) for name in method.key_fields}
                if method.uses_cam:
                    reads["cam_layer"] = cam_layer
                args = SaliencyRequest(method.name, params.sanity, checks, target, **reads)
                requests.append(Request(method.name, args, image))
        return requests

    def gflop(self, params, card, requests):
        per_image = {}  # image -> its requests
        for request in requests:
            per_image.setdefault(request.image.pixel_hash, []).append(request)
        return sum(forwards(planned(params, [r.args for r in mine]), [METHODS[r.args.method] for r in mine]) * card.gflops
                   for mine in per_image.values())

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        from reportgen.attribution import maps as attribution
        from reportgen.core.budget import frames_per_forward
        from reportgen.models.folding import fold_batch_norms

        params = planned(params, [request.args for request in requests])
        cam_layer = next((r.args.cam_layer for r in requests if r.args.cam_layer is not None), None)
        settings = maps_settings(params, model, cam_layer)
        frames = frames_per_forward(4 * params.batch_size, model.card)  # the deletion check's, without gradients
        keep = [cam_layer] if cam_layer else []
        failed = {}  # method -> (what it first raised, how many images it lost)
        done = 0
        for chunk, mine in batched_by_image(requests, settings.batch_size):
            position = {image.pixel_hash: index for index, image in enumerate(chunk)}
            methods = [name for name in METHODS if any(r.variant == name for r in mine)]
            pinned = [next(r.args.target for r in mine if r.image.pixel_hash == image.pixel_hash) for image in chunk]
            inputs = model.inputs([image.pixels for image in chunk])
            baseline = _baseline(model, params.ig_baseline)
            seeds = [_noise_seed(params.seed, image.pixel_hash) for image in chunk]
            maps = compute_maps(params, model, settings, inputs, pinned, methods, seeds)
            methods = [name for name in methods if name not in maps.failures]
            network = model.for_gradients(keep)
            checks = None
            if params.sanity:
                fill = model.normalise(torch.zeros(1, 3, 1, 1, device=inputs.device)).flatten()
                deletion = attribution.deletion_aucs(network, inputs, maps, methods, params.deletion_steps, fill,
                                                     frames) if params.deletion_steps > 0 else {}
                if params.randomisation_stages > 0:
                    # The cascade's randomised copy of the weights takes the gradient network's place
                    # in memory (a VGG16's 0.5 GB); the next batch folds it again.
                    del network
                    model.release()
                checks = attribution.randomisation_checks(
                    model.module, inputs, maps, methods, settings, baseline, seeds, params.randomisation_stages,
                    params.seed, prepare=lambda randomised: fold_batch_norms(randomised, model.sample_input(), keep))
                checks.deletion_auc = deletion
                for name, error in checks.failures.items():
                    maps.failures.setdefault(name, error)
            for name, error in maps.failures.items():
                first, lost = failed.get(name, (error, 0))
                failed[name] = first, lost + sum(r.variant == name for r in mine)
            probabilities = maps.logits.softmax(dim=1)
            for request in mine:
                if request.variant not in maps.failures:
                    index = position[request.image.pixel_hash]
                    yield request, _result(request, index, maps, probabilities, checks, model.card)
                done += 1
                progress.tick(done, len(requests))
        if failed:
            raise MethodFailed(_failure_text(failed))


def maps_settings(params: Params, model, cam_layer: str | None):
    """The shared pass's settings (``attribution.maps.Settings``) for ``model``: a channels-last or
    token CAM layer read as maps, and the batch fitted to the model's activations (a VGG16's fit
    fewer)."""
    from reportgen.attribution import maps as attribution
    from reportgen.core.budget import BACKWARD, batch_for

    cam_view = None
    if cam_layer and model.card.layer(cam_layer).layout != "nchw":
        cam_view = functools.partial(model.layer_maps, cam_layer)
    batch_size = batch_for(params.batch_size, BACKWARD * model.card.activation_mb)
    return attribution.Settings(cam_layer, params.smoothgrad_noise, params.smoothgrad_samples, params.ig_steps,
                                batch_size, cam_view, params.cam_channels)


def compute_maps(params: Params, model, settings, inputs, pinned, methods, seeds):
    """Every method's map of one batch of normalised ``inputs`` (``attribution.maps.compute`` on the
    batch-norm-folded network): what the gallery stores and ``reportgen.explain`` returns."""
    from reportgen.attribution import maps as attribution

    network = model.for_gradients([settings.cam_layer] if settings.cam_layer else [])
    return attribution.compute(network, inputs, pinned, methods, settings, _baseline(model, params.ig_baseline),
                               seeds)


def method_files(method: SaliencyMethod, maps, index: int, photo: np.ndarray, display: tuple[int, int]):
    """(raw arrays, pictures) of image ``index``'s map by ``method``, as the gallery stores them."""
    attribution = maps.attributions[method.name][index].detach().double().cpu().numpy()
    cam = maps.cam[index].detach().float().cpu().numpy() if maps.cam is not None else None
    return method.files(attribution, cam, photo, display)


def _failure_text(failed: dict[str, tuple[Exception, int]]) -> str:
    """One line naming each failed method and how many images it lost, then their tracebacks."""
    line = "; ".join(f"method {name} failed on {lost} image(s) ({type(error).__name__}: {first_line(error)})"
                     for name, (error, lost) in failed.items())
    tracebacks = ["".join(traceback.format_exception(error)) for error, _ in failed.values()]
    return "\n".join([f"{line}; the other methods' maps are stored", *tracebacks])


SIZED = {"smoothgrad_samples": 4, "ig_steps": 4, "deletion_steps": 5, "cam_channels": 16}  # what the budget shrinks, to at least this


def sized(params: Params, card, methods, cam_layer: str | None = None) -> Params:
    """``params`` with SmoothGrad's samples, Integrated Gradients' steps, the channels Score-CAM and
    Ablation-CAM evaluate (first set to the count evaluated: at most the CAM layer's) and the
    deletion steps shrunk (by one share, each to its ``SIZED`` least) until one image's counted
    passes (``forwards``) fit ``budget_s``."""
    from reportgen.core.budget import scaled, share

    if cam_layer and any("cam_channels" in method.key_fields for method in methods):
        layer_channels = card.layer(cam_layer).channels or params.cam_channels
        params = replace(params, cam_channels=min(params.cam_channels or layer_channels, layer_channels))
    fraction = share(params.budget_s, forwards(params, methods) * card.gflops)
    if fraction == 1.0:
        return params
    return replace(params,
                   smoothgrad_samples=scaled(params.smoothgrad_samples, fraction, SIZED["smoothgrad_samples"]),
                   ig_steps=scaled(params.ig_steps, fraction, SIZED["ig_steps"]),
                   cam_channels=scaled(params.cam_channels, fraction, SIZED["cam_channels"]),
                   deletion_steps=scaled(params.deletion_steps, fraction, SIZED["deletion_steps"]))


def forwards(params: Params, methods) -> float:
    """One image's passes through the model, in forwards (a backward counts as one more): the
    gradient rules' shared pass, SmoothGrad's and IG's, a forward per channel of each method keyed
    by ``cam_channels`` (again on each randomised model when the sanity metrics are on), and the
    deletion curves' forwards."""
    from reportgen.core.budget import BACKWARD

    names = {method.name for method in methods}
    rules = {rule for method in methods for rule in method.rules}
    per_channel = sum("cam_channels" in method.key_fields for method in methods)
    gradients = max(1, len(rules)) + params.smoothgrad_samples * ("smoothgrad" in names) \
        + params.ig_steps * ("integrated_gradients" in names)
    passes = BACKWARD * gradients + per_channel * params.cam_channels
    if params.sanity:
        passes = passes * (1 + params.randomisation_stages) + len(methods) * (params.deletion_steps + 1) * (
            params.deletion_steps > 0)
    return passes


def planned(params: Params, requests: "list[SaliencyRequest]") -> Params:
    """``params`` with the values its plan sized (``sized``), as its requests carry them, so that
    computing some of a plan's maps gives them the sizes the whole plan had."""
    for request in requests:
        if request.smoothgrad_samples is not None:
            params = replace(params, smoothgrad_samples=request.smoothgrad_samples)
        if request.ig_steps is not None:
            params = replace(params, ig_steps=request.ig_steps)
        if request.cam_channels is not None:
            params = replace(params, cam_channels=request.cam_channels)
        if request.checks is not None:
            params = replace(params, deletion_steps=request.checks.deletion_steps)
    return params


POOLING = ("Pool",)  # a layer type containing this pools; to 1 x 1, it is one global average


def cam_head_note(card, cam_layer: str) -> str | None:
    """Why Grad-CAM may misplace what this model's head uses, or None when the head averages the
    CAM layer's map globally (Grad-CAM's mean gradient then weighs every cell alike, as the head
    does). Read from the probe: the first layer after the CAM layer whose output is no longer a
    map of more than one cell."""
    start = card.layer(cam_layer).finish
    after = sorted((info for info in card.layers if info.finish is not None and start is not None and info.finish > start
                    and not info.name.startswith(f"{cam_layer}.")), key=lambda info: info.finish)
    for info in after:
        if info.spatial and min(info.spatial) > 1 and info.layout is not None:
            continue
        if any(word in info.type for word in POOLING):
            return None
        if card.layer(cam_layer).layout == "tokens":
            return ("the head reads the class token, not an average of this map: Grad-CAM's averaged gradient "
                    "can misplace what it uses (attention rollout follows the class token)")
        return (f"the head reads this map by position ({info.type} after it), not as one global average: "
                "Grad-CAM's averaged gradient can misplace what it uses; HiResCAM and LayerCAM keep each cell's own")
    return None


def _pinned_class(card, image) -> int | None:
    if image.label is None:
        return None
    try:
        return card.class_index(image.label)
    except ModelError as error:
        raise ModelError(f"labels.json entry for {image.name}: {error}") from None


def _noise_seed(seed: int, pixel_hash: str) -> int:
    """Each image's own SmoothGrad noise seed, so its map is the same whatever batch it is in."""
    return int(hashlib.sha256(f"{seed}:{pixel_hash}".encode()).hexdigest()[:15], 16)


def _baseline(model, name: str):
    value = IG_BASELINES[name]
    if value is None:
        return torch.zeros(1, 3, 1, 1, device=model.device)
    return model.normalise(torch.full((1, 3, 1, 1), value, device=model.device))


def _result(request: Request, index: int, maps, probabilities, checks, card) -> Result:
    method = METHODS[request.variant]
    image = request.image
    assert image is not None, "saliency plans a request per image"
    target = int(maps.targets[index])
    top1 = int(maps.logits[index].argmax())
    facts = {}
    cam_layer = request.args.cam_layer
    if cam_layer is not None:
        facts["cam_layer"] = cam_layer
        layout = card.layer(cam_layer).layout
        if layout != "nchw":
            facts["cam_layout"] = layout
        facts["cam_note"] = cam_head_note(card, cam_layer)
    if method.depends_on_rules:
        facts.update(unguided_modules=maps.unguided_modules, unguided_calls=maps.functional_calls)
    facts.update(maps.facts_of(method.name, index))
    if checks is not None:
        facts.update(_sanity_meta(method.name, index, checks))
    meta = SaliencyMeta(
        method=method.name, class_index=target, class_name=card.category(target),
        class_source="labels.json" if request.args.target is not None else "top-1 prediction",
        probability=round(float(probabilities[index, target]), 6), top1_index=top1, top1_name=card.category(top1),
        **facts)
    display = display_size(image.pixels.shape[:2])
    photo = render.resize(np.ascontiguousarray(image.pixels), display)
    arrays, pictures = method_files(method, maps, index, photo, display)
    return Result(arrays=arrays, images=pictures, meta=meta)


def _sanity_meta(method: str, index: int, checks) -> dict:
    meta = {}
    if method in checks.deletion_auc:
        meta["deletion_auc"] = round(checks.deletion_auc[method][index], 6)
    if method in checks.randomisation:
        cascade = tuple(RandomisationStage(count, name, _rounded(stage[index]))
                        for (count, name), stage in zip(checks.stages, checks.randomisation[method]))
        meta["randomisation"] = cascade
        meta["spearman"] = cascade[-1].spearman
    return meta


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def display_size(shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) with the longer side DISPLAY_SIDE, at the aspect ratio of an input of
    ``shape`` (height, width)."""
    height, width = shape
    scale = DISPLAY_SIDE / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))

