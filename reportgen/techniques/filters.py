"""Raw convolution filters: the weights themselves, no image involved.

The first convolution's filters see RGB, so each is shown in colour (scaled to its own range) and
they form a mosaic. A deeper convolution's filters have many input channels; each is shown
through its first input channel, in gray, in a grid. Keyed per model, not per image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from reportgen.pictures import render
from reportgen.core.choices import ChoiceError
from reportgen.core.meta import FilterRoles as Roles, FiltersMeta
from reportgen.techniques import filters_view
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, Unsupported, register, request_of

# The classic picks: the first convolution and one deeper (named_parameters() 0 and 6 / 18 / 26).
CLASSIC_PARAMETERS = {
    "alexnet": ("features.0.weight", "features.8.weight"),
    "resnet50": ("conv1.weight", "layer1.1.conv2.weight"),
    "densenet121": ("features.conv0.weight", "features.denseblock1.denselayer4.conv2.weight"),
}
TILE_PX = 48  # each filter is enlarged to about this size, weights kept as crisp squares


@dataclass(frozen=True)
class Params:
    parameters: tuple[str, ...] = ()  # conv weight names; empty = the classic picks, or first + a deeper one
    max_filters: int = 64  # RGB mosaic: at most this many filters
    deep_filters: int = 25  # deeper layer: a 5 x 5 grid


@dataclass(frozen=True)
class FilterRequest:
    """One weight's picture: a mosaic of at most ``max_filters`` in colour, or a grid of
    ``deep_filters`` through their first input channel."""

    parameter: str
    rgb: bool
    max_filters: int
    deep_filters: int


@register
class Filters(Technique):
    """A convolution's weights as pictures, one artifact per (model, weight), no image involved.

    Params: ``parameters`` (weight names; empty: the classic picks, or the first and a deeper one),
    ``max_filters`` (of the RGB mosaic), ``deep_filters`` (of a deeper layer's grid).
    Meta: ``FiltersMeta.shape``, the weight's (out, in, height, width).
    Roles: ``filters`` (picture), ``weights`` (raw array).
    """
    name = "filters"
    title = "Filters (convolution weights)"
    classic = "Krizhevsky, Sutskever & Hinton 2012, fig. 3 (first-layer filters)"
    description = (
        "The raw weights of convolution filters. The first layer's filters act on colour and show "
        "edges and colour blobs; deeper filters act on feature maps and are shown through their "
        "first input channel, which on its own says little about what the filter does."
    )
    per_image = False
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = FiltersMeta
    Roles = Roles
    presets = {"quick": {"max_filters": 16, "deep_filters": 9}}
    version = 1

    def default_layers(self, params, card):
        return [name.rsplit(".", 1)[0] for name in self.parameters_for(params, card)]

    def view(self, manifest, artifacts):
        return filters_view.view(manifest, artifacts)

    def parameters_for(self, params: Params, card) -> tuple[str, ...]:
        if params.parameters:
            return params.parameters
        if card.name in CLASSIC_PARAMETERS:
            return CLASSIC_PARAMETERS[card.name]
        convs = [(n, s) for n, s in card.parameters if len(s) == 4]
        if not convs:
            return ()
        first = next((n for n, s in convs if s[1] == 3), convs[0][0])
        spatial = [n for n, s in convs if s[2] >= 3 and s[1] > 1 and n != first]
        spatial = spatial or [n for n, s in convs if s[2] >= 3 and n != first]  # depthwise-only nets
        return (first, spatial[len(spatial) // 2]) if spatial else (first,)

    def plan(self, params, card, images, context=NO_CONTEXT):
        shapes = dict(card.parameters)
        if not any(len(shape) == 4 for shape in shapes.values()):
            raise Unsupported("the model has no convolution weights")
        requests = []
        for name in self.parameters_for(params, card):
            if name not in shapes or len(shapes[name]) != 4:
                raise ChoiceError(f"convolution weight of {card.name}", (name,), (n for n, s in card.parameters if len(s) == 4))
            requests.append(Request(name, request_of(FilterRequest, params, parameter=name, rgb=shapes[name][1] == 3)))
        return requests

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        weights = dict(model.module.named_parameters())
        for done, request in enumerate(requests, 1):
            weight = weights[request.variant].detach().float().cpu().numpy()
            args = request.args
            picture = rgb_mosaic(weight[: args.max_filters]) if args.rgb else channel_grid(weight[: args.deep_filters])
            yield request, Result(arrays={Roles.WEIGHTS: weight}, images={Roles.FILTERS: picture},
                                  meta=FiltersMeta(tuple(weight.shape)))
            progress.tick(done, len(requests))


def _enlarge(tile: np.ndarray) -> np.ndarray:
    return render.upscale_nearest(tile, max(1, TILE_PX // tile.shape[0]))


def rgb_mosaic(weight: np.ndarray) -> np.ndarray:
    """(out, 3, k, k) -> colour mosaic, each filter scaled to its own range."""
    tiles = [_enlarge(render.to_uint8(render.minmax(render.chw_to_hwc(f)))) for f in weight]
    return render.grid(tiles, pad=2)


def channel_grid(weight: np.ndarray) -> np.ndarray:
    """(out, in, k, k) -> gray grid of each filter's first input channel."""
    tiles = [_enlarge(render.to_uint8(render.minmax(f[0]))) for f in weight]
    return render.grid(tiles, pad=2)
