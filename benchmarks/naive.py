"""The straightforward way, for the benchmark to compare reportgen against: the seed scripts' loops.

One image, one class, one regulariser, one method at a time; the model's weights require gradients
(a copy of the model, as torchvision and timm hand it out, so every backward also computes weight
gradients); every forward runs the whole network, even for an early layer; nothing is shared
between variants. Each runner takes the same Params and the same planned requests as its technique
and returns the same Results (arrays, pictures, frames), so the benchmark compares numbers as well
as times. The operations themselves (gradient rules, Grad-CAM, noise, quadrature, parameterisations,
rendering) are reportgen's own: only the way the work is organised differs.
"""
from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from reportgen.models.hooks import activation_override, capture
from reportgen.models import LoadedModel
from reportgen.techniques.base import Request, Result

Runner = Callable[[Any, LoadedModel, list[Request]], Iterator[tuple[Request, Result]]]
RUNNERS: dict[str, Runner] = {}


def runner(name: str) -> Callable[[Runner], Runner]:
    def register(function: Runner) -> Runner:
        RUNNERS[name] = function
        return function

    return register


def unfrozen(model: LoadedModel) -> LoadedModel:
    """A copy of the model whose weights require gradients, as the seed scripts used theirs."""
    module = copy.deepcopy(model.module).requires_grad_(True)
    return LoadedModel(card=model.card, module=module, device=model.device)


def run(name: str, params: Any, model: LoadedModel, requests: list[Request]) -> list[tuple[Request, Result]]:
    if name not in RUNNERS:
        raise KeyError(f"no naive loop for {name!r}; have: {', '.join(RUNNERS)}")
    return list(RUNNERS[name](params, model, requests))


def full_forward(module: nn.Module, inputs: torch.Tensor, layers: list[str] = ()) -> tuple[torch.Tensor, dict]:
    """The whole network (nothing stops early), recording the outputs of ``layers`` on the way."""
    with capture(module, list(layers)) as outputs:
        logits = module(inputs)
    return logits, dict(outputs)


class OneByOne(nn.Module):
    """Runs a batch through the network one image at a time, as a per-image loop does."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.inner = module

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner(row[None]) for row in batch])


# --- one forward pass each ---------------------------------------------------------------------


@runner("predictions")
def predictions(params, model, requests):
    for request in requests:
        logits = model.module(model.inputs([request.image.pixels]))[0]
        yield request, Result(arrays={"logits": logits.detach().float().cpu().numpy()})


@runner("feature_maps")
def feature_maps(params, model, requests):
    from reportgen.techniques.feature_maps import _render

    for request in requests:  # one image, one layer, the whole network each time
        _, outputs = full_forward(model.module, model.inputs([request.image.pixels]), [request.variant])
        activation = outputs[request.variant][0].detach().float().cpu().numpy()
        yield request, _render(activation[: request.spec["channels"]], params.columns)


@runner("filters")
def filters(params, model, requests):
    from reportgen.techniques.filters import channel_grid, rgb_mosaic

    for request in requests:
        weight = dict(model.module.named_parameters())[request.variant].detach().float().cpu().numpy()
        picture = rgb_mosaic(weight[: params.max_filters]) if request.spec["rgb"] else channel_grid(weight[: params.deep_filters])
        yield request, Result(arrays={"weights": weight}, images={"filters": picture})


@runner("embedding_map")
def embedding_map(params, model, requests):
    from reportgen.techniques.embedding_map import atlas_cell, mapped, thumbnail

    for request in requests:  # one image per forward
        images = list(request.inputs)
        codes = [model.codes(model.inputs([image.pixels])) for image in images]
        cell = atlas_cell(request.args, len(images))
        yield request, mapped(request.args, model.card, images, np.concatenate([c[0] for c in codes]),
                              [int(c[1].argmax()) for c in codes], codes[0][2],
                              [thumbnail(image.pixels, cell) for image in images])


# --- saliency: one image, one method, its own forward and backward passes ----------------------


def _gradient(module, x, target, rule=None, layer=None):
    """One forward and one ``backward()`` of one image under a gradient rule (None: plain autograd),
    as the seed does it: weight gradients are computed too. Returns logits, the class explained
    (top-1 when ``target`` is None), the input gradient (and the layer's), the layer's output, and
    the rule override's handle."""
    override_context = activation_override(module) if rule else contextlib.nullcontext()
    with override_context as override, capture(module, [layer] if layer else []) as captured:
        if override is not None:
            override.rule = rule
        x = x.detach().clone().requires_grad_(True)
        logits = module(x)
        target = int(logits[0].argmax()) if target is None else int(target)
        if layer:
            captured[layer].retain_grad()
        logits[0, target].backward()
    grads = (x.grad, captured[layer].grad) if layer else (x.grad,)
    activation = captured[layer].detach() if layer else None
    return logits.detach(), target, grads, activation, override


def _one_method(module, x, pinned, method, params, cam_layer, baseline, noise_seed, settings):
    """``Maps`` of one image for one saliency method, recomputing everything it needs. The seed's
    methods are written out; the others run reportgen's method object on this one image alone."""
    from reportgen.attribution import cam, paths
    from reportgen.attribution.maps import Maps, compute

    if method in ("vanilla", "deconvnet", "guided"):
        logits, target, (gradient,), _, override = _gradient(module, x, pinned, method)
        return Maps(logits, torch.tensor([target], device=x.device), {method: gradient}, unguided_modules=len(override.unguided),
                    functional_calls=override.functional_calls)
    if method in ("hirescam", "layercam"):
        logits, target, (_, layer_gradient), activation, override = _gradient(module, x, pinned, "vanilla", cam_layer)
        heat = (cam.hires_cam if method == "hirescam" else cam.layer_cam)(activation, layer_gradient)
        attribution = cam.upsample(heat, tuple(x.shape[2:]))[:, None]
        return Maps(logits, torch.tensor([target], device=x.device), {method: attribution}, cam=heat)
    if method in ("gradcam", "guided_gradcam"):
        logits, target, (_, layer_gradient), activation, override = _gradient(module, x, pinned, "vanilla", cam_layer)
        heat = cam.grad_cam(activation, layer_gradient)
        if method == "gradcam":
            attribution = cam.upsample(heat, tuple(x.shape[2:]))[:, None]
        else:
            _, _, (guided,), _, override = _gradient(module, x, target, "guided")
            attribution = cam.guided_grad_cam(guided, heat)
        return Maps(logits, torch.tensor([target], device=x.device), {method: attribution}, cam=heat,
                    unguided_modules=len(override.unguided), functional_calls=override.functional_calls)
    if method not in ("smoothgrad", "integrated_gradients"):
        return compute(module, x, [pinned], [method], settings, baseline, [noise_seed])
    logits = module(x).detach()
    target = int(logits[0].argmax()) if pinned is None else int(pinned)
    targets = torch.tensor([target], device=x.device)
    if method == "smoothgrad":
        spread = float(x.max() - x.min()) * params.smoothgrad_noise
        noise = paths.smoothgrad_noise(x, [spread], params.smoothgrad_samples, [noise_seed])
        gradients = [_gradient(module, x + row[None], target)[2][0] for row in noise]
        return Maps(logits, targets, {method: torch.stack(gradients).mean(dim=0)})
    alphas, weights = paths.gauss_legendre(params.ig_steps)
    total = torch.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        point = baseline + float(alpha) * (x - baseline)
        total += float(weight) * _gradient(module, point, target)[2][0]
    attribution = total * (x - baseline)
    maps = Maps(logits, targets, {method: attribution})
    gaps = paths.completeness_gap(module, x, targets, baseline, attribution)
    maps.facts[method] = [{"ig_completeness_gap": round(float(gap), 6)} for gap in gaps]
    return maps


def _sanity(module, x, maps, method, params, cam_layer, baseline, noise_seed, fill, settings):
    """Deletion curve (one forward per deletion step) and randomisation cascade for one map."""
    from reportgen.attribution import sanity
    from reportgen.attribution.maps import Sanity

    checks = Sanity()
    importance = maps.importance(method)
    if params.deletion_steps > 0:
        curves = sanity.deletion_curves(OneByOne(module), x, importance, maps.targets, params.deletion_steps, fill)
        checks.deletion_auc[method] = [sanity.area_under(curves[0])]
    stages = sanity.cascading_randomisation(module, params.randomisation_stages, params.seed)
    for count, down_to, randomised in stages if params.randomisation_stages > 0 else ():
        again = _one_method(randomised, x, int(maps.targets[0]), method, params, cam_layer, baseline, noise_seed,
                            settings)
        checks.stages.append((count, down_to))
        before, after = importance[0].detach().cpu().numpy(), again.importance(method)[0].detach().cpu().numpy()
        checks.randomisation.setdefault(method, []).append([sanity.spearman(before, after)])
    return checks


@runner("saliency")
def saliency(params, model, requests):
    from reportgen.techniques import saliency as technique

    params = technique.planned(params, [request.args for request in requests])  # the sizes the plan chose
    baseline = technique._baseline(model, params.ig_baseline)
    fill = model.normalise(torch.zeros(1, 3, 1, 1, device=model.device)).flatten()
    for request in requests:
        x = model.inputs([request.image.pixels])
        cam_layer = request.spec.get("cam_layer")
        settings = technique.maps_settings(params, model, cam_layer)
        noise_seed = technique._noise_seed(params.seed, request.image.pixel_hash)
        maps = _one_method(model.module, x, request.spec.get("target"), request.variant, params, cam_layer, baseline,
                           noise_seed, settings)
        checks = None
        if params.sanity:
            checks = _sanity(model.module, x, maps, request.variant, params, cam_layer, baseline, noise_seed, fill,
                             settings)
        yield request, technique._result(request, 0, maps, maps.logits.softmax(dim=1), checks, model.card)


# --- gradient ascent: one run (class or filter, regulariser, style) at a time ------------------


def _ascent(params, model, requests, score_for):
    from reportgen.optim.objectives import norm_regulariser
    from reportgen.optim.styles import visualise

    for request in requests:
        run = request.args.run  # its style's settings and its regulariser
        traces, _final = visualise(model, 1, score_for(request), norm_regulariser([run.regulariser], [run.weight]), run)
        frames = traces[0].frames
        arrays = dict(traces[0].history)
        yield request, Result(arrays=arrays, images={"final": frames[-1]}, animations={"gif": frames})


@runner("class_ascent")
def class_ascent(params, model, requests):
    from reportgen.optim.objectives import class_logit

    return _ascent(params, model, requests, lambda request: class_logit(model.module, [request.spec["class_index"]]))


@runner("layer_ascent")
def layer_ascent(params, model, requests):
    requests = [request for request in requests if "style" in request.spec]  # no examples: a forward each
    def score_for(request):
        layer, channel = request.spec["layer"], request.spec["filter"]

        def score(images):
            _, outputs = full_forward(model.module, images, [layer])
            return {"score": outputs[layer][:, channel].mean(dim=(1, 2))}

        return score

    return _ascent(params, model, requests, score_for)


# --- deep dream: one image, one objective, one method at a time --------------------------------


@runner("deep_dream")
def deep_dream(params, model, requests):
    from reportgen.techniques import deep_dream as technique

    for request in requests:
        height, width = request.image.pixels.shape[:2]
        dream = request.args  # a SimpleDream or an OctaveDream: the settings its method reads
        size = model.card.fit_size(*technique.working_size((height, width), dream.working_side))
        schedule = technique.schedule_for(dream, size, model.card)
        base = model.to_tensor([request.image.pixels], size)
        dreamed, trace = _dream(model, base, dream.layer, dream.filter, schedule)
        picture = technique._picture(model, dreamed, (height, width))
        yield request, Result(arrays={"objective": trace}, images={"dream": picture})


def _dream(model, base01, layer, channel, schedule):
    """The seed's dream loop for one image: the whole network every step, loss.backward() into
    the image (and into the weights, which require gradients), then the same update as reportgen's."""
    from reportgen.optim.transforms import Roll
    from reportgen.optim.dream import octave_start, valid_range

    valid = valid_range(model, base01.device)
    roll = Roll(schedule.jitter)
    generator = torch.Generator().manual_seed(schedule.seed)
    trace, detail, dreamed = [], None, None
    for octave_size in schedule.sizes:
        octave_base, image = octave_start(model, base01, octave_size, detail, valid)
        optimiser = schedule.optimiser(image.parameters())
        for step in range(schedule.steps):
            _, outputs = full_forward(model.module, roll(image(), generator), [layer])
            chosen = outputs[layer][0] if channel is None else outputs[layer][0, channel]
            value = chosen.mean() if schedule.reduction == "mean" else chosen.norm()
            optimiser.zero_grad()
            (-value).backward()
            trace.append(float(value.detach()))
            optimiser.step()
            image.constrain()
        dreamed = image().detach()
        detail = dreamed - octave_base
    return dreamed, np.asarray(trace, dtype=np.float32)


# --- feature inversion and fooling images: one input (and one layer) at a time ----------------


@runner("feature_inversion")
def feature_inversion(params, model, requests):
    """One input and one layer at a time: the whole network every step (the target's features too),
    the weights' gradients computed with the image's."""
    from reportgen.optim.objectives import total_variation
    from reportgen.optim.styles import visualise

    for request in requests:
        inversion, layer = request.args, request.args.layer
        with torch.no_grad():
            _, outputs = full_forward(model.module, model.normalise(model.to_tensor([request.image.pixels])), [layer])
        target = model.layer_maps(layer, outputs[layer])[0]

        def score(images, layer=layer, target=target):
            _, seen = full_forward(model.module, images, [layer])
            maps = model.layer_maps(layer, seen[layer], (images.shape[-2], images.shape[-1]))
            distance = torch.stack([(row - target).norm() / target.norm().clamp_min(1e-12) for row in maps])
            return {"score": -distance, "distance": distance.detach()}

        traces, _final = visualise(model, 1, score, total_variation([inversion.tv_weight]), inversion.run)
        yield request, Result(arrays=dict(traces[0].history), images={"final": traces[0].frames[-1]})


@runner("adversarial")
def adversarial(params, model, requests):
    """One input at a time, every budget tried in turn, each PGD step a ``loss.backward()`` through
    the whole unfolded network (into the weights too)."""
    from reportgen.techniques import adversarial as technique

    for request in requests:
        attack = request.args
        photo = technique._uint8(model.to_tensor([request.image.pixels]))
        before = technique.classify(model, photo)
        original = int(before[0].argmax())
        found = None
        if attack.target is not None and technique._fooled(before[0], original, attack.target):
            found = technique.Found(0, photo[0], before[0], True)
        label = attack.target if attack.target is not None else original
        for epsilon in attack.epsilons:
            if found is not None and found.fooled:
                break
            picture = technique._uint8(_pgd(model, technique._pixels(photo, model.device), label, epsilon / 255, attack))
            logits = technique.classify(model, picture)
            found = technique.Found(epsilon, picture[0], logits[0], technique._fooled(logits[0], original, attack.target))
        yield request, technique._result(model, attack, photo[0], before[0], found)


def _pgd(model, photo, label, epsilon, attack):
    """The technique's steps (PGD; FGSM: one step of the whole epsilon), by ``backward()``."""
    size = epsilon if attack.step_ratio is None else attack.step_ratio * epsilon / attack.steps
    direction = -1.0 if attack.target is not None else 1.0
    low, high = (photo - epsilon).clamp(0, 1), (photo + epsilon).clamp(0, 1)
    pixels = photo.clone()
    for _ in range(attack.steps):
        pixels = pixels.detach().requires_grad_(True)
        logits = model.module(model.normalise(pixels))
        loss = nn.functional.cross_entropy(logits, torch.tensor([label], device=photo.device), reduction="sum")
        model.module.zero_grad(set_to_none=True)
        loss.backward()
        pixels = torch.minimum(torch.maximum(pixels.detach() + direction * size * pixels.grad.sign(), low), high)
    return pixels.detach()
