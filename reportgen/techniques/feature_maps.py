"""Feature maps: the activations of chosen layers for one forward pass of each image.

The first 64 channels of a layer in an 8 x 8 grid, each channel scaled to
its own range so that weak channels are still visible. Only the network up to the deepest chosen
layer runs, and all images of a model share one batched pass. Channels-last layers (Swin) and token
sequences (ViT) are read as channels-first maps (models/layout.py); a layer whose output is no map
is skipped with its reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from markupsafe import Markup

from reportgen.pictures import render
from reportgen.core.batching import batched_by_image
from reportgen.core.choices import ACTIVATIONS
from reportgen.core.lazy import torch
from reportgen.core.meta import FeatureMapRoles as Roles, FeatureMapsMeta
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, Unsupported, register, not_keyed, request_of
from reportgen.techniques import feature_maps_view
from reportgen.techniques.shared_view import rows_by_place

# The classic VGG layers (indices into `features`): ReLU outputs after conv blocks 1, 2, 3, 5.
CLASSIC_LAYERS = {
    "vgg16": ("features.1", "features.6", "features.15", "features.29"),
    "vgg19": ("features.1", "features.6", "features.17", "features.35"),
}


def map_layers(card) -> tuple[str, ...]:
    """The layers shown when none is chosen: the classic ones (VGG), else four maps (> 1 x 1) from
    early to late. Feature inversion reconstructs from the same ones, so the pages line up."""
    return CLASSIC_LAYERS.get(card.name) or tuple(card.pick(4, ACTIVATIONS, min_side=2))


@dataclass(frozen=True)
class Params:
    layers: tuple[str, ...] = ()  # dotted module names; empty = the classic ones (VGG) or early..late maps (> 1 x 1)
    channels: int = 64
    columns: int = 8
    batch_size: int = not_keyed(8, "how many go through the model at once")


@dataclass(frozen=True)
class MapRequest:
    """One layer's grid for one image: its first ``channels`` (at most the layer's) in ``columns``."""

    layer: str
    channels: int
    columns: int


@register
class FeatureMaps(Technique):
    """A grid of a layer's first channels for each image, one artifact per (image, layer).

    Params: ``layers`` (dotted module names; empty: the classic ones or early to late maps),
    ``channels`` (how many, from the first), ``columns`` (of the grid), ``batch_size``.
    Meta: ``FeatureMapsMeta``: ``channels`` shown, each map's ``size`` (height, width), the
    ``layout`` it was read from when not channels-first ("nhwc", "tokens").
    Roles: ``grid`` (picture), ``activations`` (raw array).
    """
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = FeatureMapsMeta
    Roles = Roles
    name = "feature_maps"
    title = "Feature maps"
    classic = ("Zeiler & Fergus 2014, \u201cVisualizing and understanding convolutional networks\u201d; "
               "Yosinski et al. 2015, \u201cUnderstanding neural networks through deep visualization\u201d (activations)")
    description = (
        "One forward pass, and the outputs of intermediate layers shown directly: early layers "
        "respond to edges and colours, later ones to parts of objects. Each channel is scaled to "
        "its own range."
    )
    version = 2
    presets = {"quick": {"channels": 16, "columns": 4}}

    def layers_for(self, params: Params, card) -> tuple[str, ...]:
        return params.layers or map_layers(card)

    def default_layers(self, params, card):
        return list(self.layers_for(params, card))

    def view(self, manifest, artifacts):
        return feature_maps_view.view(manifest, artifacts)

    def image_rows(self, shown, models):
        return rows_by_place(shown, models)

    def caption(self, artifact):
        return Markup("<code>{}</code>").format(artifact.variant)

    def plan(self, params, card, images, context=NO_CONTEXT):
        requests = []
        layers = self.layers_for(params, card)
        if not layers:
            raise Unsupported("no layer with a feature map")
        for layer in layers:
            info = card.layer(layer)
            if not info.channels or not info.spatial:
                requests.append(self.skip(card, layer, f"its output ({info.type}) is not a feature map"))
                continue
            args = request_of(MapRequest, params, layer=layer, channels=min(params.channels, info.channels))
            requests += [Request(layer, args, image) for image in images]
        return requests

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        layers = list(dict.fromkeys(r.variant for r in requests))
        done = 0
        for chunk, mine in batched_by_image(requests, params.batch_size):
            with torch.inference_mode():
                outputs = _forward(model, chunk, layers)
            layouts = {layer: model.card.layer(layer).layout for layer in layers}
            position = {image.pixel_hash: index for index, image in enumerate(chunk)}
            for request in mine:
                activation = outputs[request.variant][position[request.image.pixel_hash]]
                args = request.args
                yield request, _render(activation[: args.channels], args.columns, layouts[args.layer])
                done += 1
                progress.tick(done, len(requests))


def _forward(model, images, layers):
    from reportgen.models.hooks import forward_until

    inputs = model.inputs([image.pixels for image in images])
    outputs = forward_until(model.module, inputs, layers)
    return {name: model.layer_maps(name, output).float().cpu().numpy() for name, output in outputs.items()}


MIN_TILE_PX = 48  # deep layers (7 x 7) are enlarged, pixel-exact, so they can be seen
MAX_PICTURE_PX = 4096  # no grid wider or taller than this: big maps are shrunk to fit


def _render(activation: np.ndarray, columns: int, layout: str | None = "nchw") -> Result:
    height, width = activation.shape[1:]
    rows = -(-len(activation) // columns)
    factor = -(-MIN_TILE_PX // height)
    factor = max(1, min(factor, MAX_PICTURE_PX // (columns * (width + 1)), MAX_PICTURE_PX // (rows * (height + 1))))
    tiles = [render.upscale_nearest(render.to_uint8(render.minmax(channel)), factor) for channel in activation]
    picture = render.grid(tiles, columns=columns, pad=1)
    if max(picture.shape[:2]) > MAX_PICTURE_PX:
        scale = MAX_PICTURE_PX / max(picture.shape[:2])
        picture = render.resize(picture, (max(1, int(picture.shape[1] * scale)), max(1, int(picture.shape[0] * scale))))
    meta = FeatureMapsMeta(int(activation.shape[0]), tuple(activation.shape[1:]), None if layout in (None, "nchw") else layout)
    return Result(arrays={Roles.ACTIVATIONS: activation.astype(np.float32)}, images={Roles.GRID: picture}, meta=meta)
