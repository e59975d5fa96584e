"""Feature inversion (Mahendran & Vedaldi, 2015): an image whose features at one layer match the input's.

x* = argmin_x ||f_i(x) - f_i(x0)|| / ||f_i(x0)|| + lambda * TV(x), found from noise by the class
models' robust machinery (optim/): a decorrelated Fourier image at the model's input size, a few
pixel of jitter before every forward (milder transforms than the class models': the features must
line up with the input's place by place), Adam, and the plateau rule. What the reconstruction keeps
is what the layer keeps of the input: early layers give the photo back nearly whole, late ones its
parts and textures, rearranged. One picture per (input, layer), at the layers the feature maps show;
the relative distance it reached is measured on the 8-bit picture as shown, beside the distance of
the input blurred (a yardstick: what a blurry copy keeps of the features).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from reportgen.core.batching import batched_by_image
from reportgen.core.choices import ParamError
from reportgen.core.ascent_meta import InversionMeta, InversionRoles
from reportgen.optim import RobustRun
from reportgen.techniques import feature_inversion_view
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, Unsupported, register, not_keyed, request_of
from reportgen.techniques.feature_maps import map_layers
from reportgen.techniques.shared_view import rows_by_place


@dataclass(frozen=True)
class Params:
    layers: tuple[str, ...] = ()  # dotted module names; empty = the feature maps' layers (early to late)
    tv_weight: float = 0.2  # lambda of the total-variation prior, on the normalised image
    reference_blur: float = 4.0  # sigma (px at the model's input size) of the blurred yardstick
    frames: int = 10  # values recorded along the way (the objective's curve)
    seed: int = 0
    plateau_window: int = 16  # a run ends when its objective stops rising (optim.ascent.Plateau)
    plateau_margin: float = 0.02
    robust_steps: int = 200
    robust_lr: float = 0.05
    decay_power: float = 1.0  # spectrum scaled by 1 / f ** decay_power
    pad: int = 1  # px of grey around the canvas before the jitter
    jitter: int = 1  # px of random shift before every forward (more blurs the early layers' match)
    zoom: float = 0.0  # no zoom, rotation or colour shift: the features are matched place by place
    degrees: float = 0.0
    colour_shift: float = 0.0
    batch_size: int = not_keyed(8, "how many go through the model at once")
    # Seconds one input's reconstructions may take on one model (reportgen/budget.py): the step cap
    # shrinks until their counted cost fits; 0: no limit
    budget_s: float = not_keyed(20.0, "the step cap it shrinks is keyed")


@dataclass(frozen=True)
class Inversion:
    """One input's reconstruction from one layer: the prior, the yardstick, the run's settings."""

    layer: str
    tv_weight: float
    reference_blur: float
    run: RobustRun


@register
class FeatureInversion(Technique):
    """From noise, the image whose features at a layer match the input's, per (input, layer).

    Params: ``layers`` (empty: the feature maps'), ``tv_weight``, ``reference_blur``, the robust
    run's settings (``robust_steps``, ``robust_lr``, ``decay_power``, ``pad``, ``jitter``, ``zoom``,
    ``degrees``, ``colour_shift``, ``frames``, ``seed``, plateau), ``batch_size``, ``budget_s``.
    Meta: ``InversionMeta``: ``layer``, ``style``, the relative feature ``distance`` reached and the
    blurred input's (``blurred_distance``), ``frame_steps``, ``steps``, ``step_cap``.
    Roles: ``final`` (picture: the reconstruction), ``features``, ``objective`` and ``distance`` (raw arrays).
    """
    name = "feature_inversion"
    title = "Feature inversion"
    classic = ("Mahendran & Vedaldi 2015, \u201cUnderstanding deep image representations by inverting them\u201d "
               "(CVPR)")
    description = (
        "Starting from noise, the image whose features at one layer match the input's as closely as "
        "gradient descent gets them, with a prior for smooth images: what that depth keeps of the "
        "photo and what it throws away. Early layers give the photo back; late ones keep its parts, "
        "not where they were. Under each: the relative feature distance reached, beside a blurred "
        "copy's."
    )
    version = 1
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = InversionMeta
    Roles = InversionRoles
    presets = {
        "quick": {"robust_steps": 24, "frames": 4, "plateau_window": 0, "budget_s": 0.0},
        "full": {"robust_steps": 500, "frames": 20, "budget_s": 60.0},
    }
    optimises = True
    # Measured for the robust class models (the same parameterisation and loop): other CPU kernels
    # end the late layers' runs, whose features many images share, at other images.
    chaotic_styles = ("robust",)

    def layers_for(self, params: Params, card) -> tuple[str, ...]:
        return params.layers or map_layers(card)

    def default_layers(self, params, card):
        return list(self.layers_for(params, card))

    def view(self, manifest, artifacts):
        return feature_inversion_view.view(manifest, artifacts)

    def image_rows(self, shown, models):
        return rows_by_place(shown, models)

    def caption(self, artifact):
        return feature_inversion_view.describe(artifact)

    def plan(self, params, card, images, context=NO_CONTEXT):
        layers = self.layers_for(params, card)
        if not layers:
            raise Unsupported("no layer with a feature map")
        for layer in layers:
            info = card.layer(layer)
            if not info.channels or not info.spatial:
                raise ParamError(f"feature_inversion: {card.name} layer {layer!r} ({info.type}) gives no feature map "
                                 f"to invert; `reportgen list layers {card.name}` lists those that do")
        run = request_of(RobustRun, params, regulariser="none", robust_side=card.input_size,
                         robust_steps=sized_steps(params, card, len(layers)))
        requests = []
        for layer in layers:
            inversion = request_of(Inversion, params, layer=layer, run=run)
            requests += [Request(layer, inversion, image) for image in images]
        return requests

    def gflop(self, params, card, requests):
        from reportgen.core.budget import BACKWARD

        return sum(request.args.run.robust_steps * BACKWARD * card.gflops for request in requests)

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        from reportgen.optim.objectives import feature_distance, total_variation
        from reportgen.optim.styles import run_requests
        from reportgen.core.progress import Silent

        layers = list(dict.fromkeys(r.args.layer for r in requests))
        network = model.for_gradients(layers)
        done = 0
        for chunk, mine in batched_by_image(requests, params.batch_size):
            targets, blurred = _targets(model, network, chunk, layers, mine[0].args.reference_blur)

            def score_for(batch):
                return feature_distance(network, [r.args.layer for r in batch],
                                        [targets[r.image.pixel_hash, r.args.layer] for r in batch], model.layer_maps)

            def prior_for(batch):
                return total_variation([r.args.tv_weight for r in batch])

            for request, run in run_requests(model, mine, params.batch_size, score_for, Silent(), regulariser_for=prior_for):
                trace, settings = run.trace, request.args.run
                meta = InversionMeta(layer=request.args.layer, style=settings.style, distance=run.final["distance"],
                                     blurred_distance=blurred[request.image.pixel_hash, request.args.layer],
                                     frame_steps=tuple(trace.frame_steps), steps=trace.steps, step_cap=settings.step_cap)
                curves = {role: trace.history[role] for role in (InversionRoles.OBJECTIVE, InversionRoles.DISTANCE)}
                yield request, Result(arrays={**curves, InversionRoles.FEATURES: run.features},
                                      images={InversionRoles.FINAL: trace.frames[-1]}, meta=meta)
                done += 1
                progress.tick(done, len(requests))


def sized_steps(params: Params, card, layers: int) -> int:
    """The step cap, shrunk (to at least 16) until one input's reconstructions from ``layers``
    layers fit ``budget_s`` (reportgen/budget.py; each step a forward and a backward)."""
    from reportgen.core.budget import BACKWARD, scaled, share

    gflop = layers * params.robust_steps * BACKWARD * card.gflops
    return scaled(params.robust_steps, share(params.budget_s, gflop), 16)


def _targets(model, network, images, layers: list[str], blur: float):
    """Each (image, layer)'s features at the model's input size, and the relative distance of the
    image blurred by ``blur`` px to them."""
    from reportgen.models.hooks import forward_until
    from reportgen.core.lazy import torch
    from reportgen.optim.optimisers import gaussian_blur

    pixels = model.to_tensor([image.pixels for image in images])
    targets, blurred = {}, {}
    with torch.inference_mode():
        clear = forward_until(network, model.normalise(pixels), layers)
        soft = forward_until(network, model.normalise(gaussian_blur(pixels, blur)), layers)
    for layer in layers:
        maps, soft_maps = model.layer_maps(layer, clear[layer]), model.layer_maps(layer, soft[layer])
        for position, image in enumerate(images):
            target = maps[position].clone()
            targets[image.pixel_hash, layer] = target
            blurred[image.pixel_hash, layer] = float((soft_maps[position] - target).norm() / target.norm().clamp_min(1e-12))
    return targets, blurred
