"""Saliency maps: which pixels the class score is sensitive to, by every registered method.

The three gradient rules (vanilla gradient, DeconvNet, guided backprop) differ only in how ReLUs pass
gradients back, so they share one forward pass; Grad-CAM and guided Grad-CAM ride on the same pass;
SmoothGrad, Integrated Gradients and Gradient SHAP average vanilla gradients over noisy copies / a
path from a baseline / sampled baselines; RISE and occlusion only run forwards on masked copies. Each map explains one class: the image's pinned label (labels.json) or the top-1
prediction. Optional sanity metrics: the model-randomisation test (Adebayo et al. 2018) and the
deletion score (Petsiuk et al. 2018).
"""
from __future__ import annotations

import functools
import hashlib
import traceback

import numpy as np

from reportgen.pictures import render
from reportgen.core.batching import batched_by_image
from reportgen.attribution.methods import METHODS, SaliencyMethod, chosen
from reportgen.core.choices import check_choice
from reportgen.core.errors import first_line
from reportgen.core.lazy import torch
from reportgen.core.meta import RandomisationStage, SaliencyMeta, SaliencyRoles
from reportgen.models import ModelError
from reportgen.techniques import saliency_view
from reportgen.techniques.cam_layers import cam_head_note, cam_layer_for
from reportgen.techniques.saliency_params import (IG_BASELINES, Params, SaliencyRequest, SanityChecks, forwards,
                                                 planned, sized)
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, register, request_of
from reportgen.gallery import formats

DISPLAY_SIDE = 320  # longer side of the shown pictures, at the input image's aspect ratio


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


@register
class Saliency(Technique):
    """One map per (image, method) explaining one class; the methods are ``attribution.methods``.

    Params: ``methods`` (names), ``cam_layer`` (empty: chosen by ``cam_layer_for``), SmoothGrad's
    ``smoothgrad_samples`` / ``smoothgrad_noise``, Integrated Gradients' ``ig_steps`` /
    ``ig_baseline``, Gradient SHAP's ``gradshap_samples`` / ``gradshap_noise``, Score-CAM's and
    Ablation-CAM's ``cam_channels``, RISE's ``rise_masks`` / ``rise_cells`` / ``rise_keep``,
    occlusion's ``occlusion_window`` / ``occlusion_stride``, ``sanity`` with
    ``randomisation_stages`` / ``deletion_steps``, ``seed``, ``batch_size``, ``budget_s`` (per
    image; ``sized`` shrinks the samples, steps, channels and masks to fit it). An artifact's key
    holds only the fields its method reads (``key_fields``).
    Meta: ``SaliencyMeta``: the class explained (``class_index``, ``class_name``, ``class_source``,
    ``probability``), the model's top-1 (``top1_index``, ``top1_name``), and where they apply the
    CAM layer, the activations the ReLU rule missed, the IG completeness gap and the sanity metrics.
    Roles: ``color`` and ``gray`` pictures with an ``attribution`` array; Grad-CAM an ``overlay``
    picture with a ``cam`` array; the other heat maps (positional CAMs, rollouts, RISE, occlusion)
    an ``overlay`` with an ``attribution`` array (each method's ``renderings``).
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
        "network without it); SmoothGrad averages gradients over noisy copies, Integrated Gradients "
        "along a path from a baseline image and Gradient SHAP from random baselines; RISE and "
        "occlusion need no gradient: they watch the class's probability as parts of the input are hidden."
    )
    version = 3  # 3: matplotlib's exact jet for the CAM overlays
    Params = Params
    Meta = SaliencyMeta
    Roles = SaliencyRoles
    presets = {
        "quick": {"smoothgrad_samples": 4, "ig_steps": 4, "gradshap_samples": 4, "rise_masks": 256,
                  "cam_channels": 64, "sanity": False, "budget_s": 0.0},
        "full": {"smoothgrad_samples": 50, "ig_steps": 50, "gradshap_samples": 50, "rise_masks": 4000,
                 "occlusion_stride": 8, "cam_channels": 0, "randomisation_stages": 5, "deletion_steps": 32,
                 "budget_s": 0.0},
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
        return sum(forwards(planned(params, [r.args for r in mine]), [METHODS[r.args.method] for r in mine],
                            card.input_size) * card.gflops
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
    pixels = tuple(model.normalise(torch.full((1, 3, 1, 1), value, device=model.device)) for value in (0.0, 1.0))
    return attribution.Settings(
        cam_layer, params.smoothgrad_noise, params.smoothgrad_samples, params.ig_steps, batch_size, cam_view,
        gradshap_samples=params.gradshap_samples, gradshap_noise=params.gradshap_noise, rise_masks=params.rise_masks,
        rise_cells=params.rise_cells, rise_keep=params.rise_keep, occlusion_window=params.occlusion_window,
        occlusion_stride=params.occlusion_stride, pixels=pixels, cam_channels=params.cam_channels)


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

