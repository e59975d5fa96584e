"""Layer ascent: the image that maximises one unit's mean activation (a unit: one filter's output
channel), beside the patches of the input images that excite that unit most.

argmax_I M_ij(I) - R(I), where M_ij is the mean over positions of channel j of layer i. The
same loop, styles and regularisers R as class_ascent; only the network up to the deepest chosen layer
runs. Each (layer, filter) x style run becomes a looping GIF and its final frame, keyed per model.

A visualisation alone can mislead (it may show what the unit *could* respond to, not what it does
respond to in photos), so, as OpenAI Microscope does, each unit also gets its *dataset examples*:
the input-image patches where the unit's activation peaks, and the highest activation over the
inputs, against which the visualisation's own peak is shown. Those depend on the input images, so
that artifact's spec holds the pixel hashes of every input: it is recomputed when any input
changes, and only then.

The default regulariser is none: Adam weight decay 1e-6, as in the classic scripts, is no regulariser to
speak of; L1 / L2 are available as explicit terms.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reportgen import render
from reportgen.choices import ParamError, check_choice, check_choices
from reportgen.meta import Example, LayerAscentRoles, ExamplesMeta, UnitMeta
from reportgen.optim import REGULARISERS, STYLES, AscentParams, fitted, planned, sized, style_settings, style_spec
from reportgen.techniques.base import Request, Result, Technique, register, spec_of

# VGG16's classic units (indices into `features`: conv3_3 filter 5, conv5_1 filter 25).
VGG16_UNITS = {"vgg16": (("features.12", 5), ("features.24", 25))}
# Elsewhere: channel-mixing convolutions at the same relative depths (12 and 24 of VGG16's 30
# feature modules), with the same filter numbers wrapped to the layer's channel count.
DEFAULT_DEPTHS = ((0.4, 5), (0.8, 25))
PATCH_TILE = 64  # px, the side each example patch is shown at


@dataclass(frozen=True)
class Params(AscentParams):
    units: tuple[str, ...] = ()  # "layer:filter" ("features.12:5") or "layer:*" (all); empty = VGG16's pair or by depth
    regulariser: str = "none"
    styles: tuple[str, ...] = ("naive", "robust")
    examples: int = 6  # input-image patches shown per unit (0: none)
    patch_strides: float = 6.0  # a patch's side, in strides of the layer (its rough receptive field)
    budget_s: float = 20.0


@register
class LayerAscent(Technique):
    """The picture that maximises one unit (a channel of a layer), per (unit, style), and the unit's
    dataset examples; keyed per model (the examples also by every input's pixels).

    Params: ``units`` ("layer:filter" or "layer:*"; empty: by depth), ``regulariser``, ``styles``,
    ``examples`` (patches per unit; 0: none), ``patch_strides``, and ``AscentParams``.
    Meta: a visualisation's ``UnitMeta`` (``layer``, ``filter``, ``style``, ``regulariser``,
    ``final_activation``, ``final_peak``, ``frame_steps``); the examples' ``ExamplesMeta``
    (``layer``, ``filter``, ``input_peak``, and an ``Example`` per patch: image, activation, box).
    Roles: ``gif``, ``final``, ``features`` as class ascent; the examples' ``examples`` picture and
    ``activations`` array.
    """
    name = "layer_ascent"
    title = "Layer ascent (what one unit responds to)"
    description = (
        "The same gradient ascent as the class models, but maximising the mean activation of one "
        "unit (one filter's channel) of an intermediate layer: what that unit responds to. Naive "
        "pixel ascent beside the robust style, and the patches of the input images where the unit "
        "responds most."
    )
    version = 4  # 4: features of its final pictures (regression checks); 3: robust canvas, decay, transforms; examples
    Params = Params
    Meta = UnitMeta | ExamplesMeta
    Roles = LayerAscentRoles
    presets = {
        "quick": {"steps": 6, "frames": 3, "height": 48, "width": 48, "robust_steps": 6, "robust_side": 48, "budget_s": 0.0},
        "full": {"steps": 200, "frames": 40, "height": 400, "width": 600, "batch_size": 4, "robust_steps": 128,
                 "budget_s": 200.0},
    }
    per_image = True  # for the examples; the visualisations themselves are keyed per model

    def units_for(self, params: Params, card) -> list[tuple[str, int]]:
        if params.units:
            units = []
            for text in params.units:
                layer, filter_index = _parse_unit(text)
                every = range(card.layer(layer).channels or 0) if filter_index is None else [filter_index]
                units += [(layer, index) for index in every]
            return list(dict.fromkeys(units))
        if card.name in VGG16_UNITS:
            return list(VGG16_UNITS[card.name])
        convs = _full_convolutions(card) or card.feature_layers()
        units = []
        for depth, filter_index in DEFAULT_DEPTHS:
            info = convs[round(depth * (len(convs) - 1))]
            units.append((info.name, filter_index % info.channels))
        return list(dict.fromkeys(units))

    def plan(self, params, card, images):
        check_choice("regulariser", params.regulariser, REGULARISERS)
        check_choices("style", params.styles, STYLES)
        units = self.units_for(params, card)
        params = sized(fitted(params, card), card, list(params.styles) * len(units))
        requests = []
        for layer, filter_index in units:
            channels = card.layer(layer).channels
            if not channels or not 0 <= filter_index < channels:
                raise ParamError(f"{card.name} layer {layer} has {channels or 0} filters; {filter_index} is out of range")
            for style in params.styles:
                spec = spec_of(params, units=None, styles=None, batch_size=None, budget_s=None, examples=None, patch_strides=None,
                               layer=layer, filter=filter_index, **style_spec(params, params.regulariser, style))
                requests.append(Request(f"{layer}:{filter_index}/{style}", spec))
            if params.examples > 0 and images:
                spec = {"layer": layer, "filter": filter_index, "examples": params.examples,
                        "patch_strides": params.patch_strides, "inputs": sorted(i.pixel_hash for i in images)}
                requests.append(Request(f"{layer}:{filter_index}/examples", spec, inputs=tuple(images)))
        return requests

    def compute(self, params, model, requests, progress):
        from reportgen.optim.objectives import layer_activation
        from reportgen.optim.styles import run_requests

        params = planned(fitted(params, model.card), [request.spec for request in requests])

        def score_for(batch):
            layers = [r.spec["layer"] for r in batch]
            return layer_activation(model.for_gradients(layers), layers, [r.spec["filter"] for r in batch], "mean",
                                    model.layer_maps)

        for request in (r for r in requests if "style" not in r.spec):
            yield request, dataset_examples(model, request)
        visualisations = [r for r in requests if "style" in r.spec]
        for request, run in run_requests(model, visualisations, params, score_for, progress):
            layer, filter_index = request.spec["layer"], request.spec["filter"]
            side = model.card.input_size if request.spec["style"] == "robust" else None
            peak = float(channel_maps(model, [run.trace.frames[-1]], layer, filter_index, side)[0].max())
            yield request, run.result(UnitMeta(
                layer=layer, filter=filter_index, style=request.spec["style"],
                regulariser=request.spec["regulariser"], final_activation=run.final["score"],
                final_peak=peak, frame_steps=tuple(run.trace.frame_steps),
                steps=run.trace.steps, step_cap=style_settings(params, request.spec["style"])[0],
            ))


def channel_maps(model, pictures, layer: str, filter_index: int, side: int | None = None) -> list[np.ndarray]:
    """One channel's activation map (float HxW) for each uint8 picture, resized whole to ``side``
    px square (None: the picture's own size; either fitted to the sizes the model accepts), as the
    model sees it, whatever the layer's layout."""
    from reportgen.hooks import forward_until
    from reportgen.lazy import torch

    maps = []
    with torch.inference_mode():
        for picture in pictures:
            size = model.card.fit_size(*((side, side) if side else picture.shape[:2]))
            output = forward_until(model.module, model.inputs([picture], size), [layer])[layer]
            maps.append(model.layer_maps(layer, output, size)[0, filter_index].float().cpu().numpy())
    return maps


def dataset_examples(model, request: Request) -> Result:
    """The input patches where one unit responds most: its activation map on every input (resized
    whole to the model's input size), the strongest positions, at most one per neighbourhood of a
    patch, each cropped from the full-resolution input over the region the model saw there."""
    layer, filter_index = request.spec["layer"], request.spec["filter"]
    side = model.card.input_size
    maps = channel_maps(model, [image.pixels for image in request.inputs], layer, filter_index, side)
    candidates = sorted(((float(value), index, y, x) for index, activation in enumerate(maps)
                         for (y, x), value in np.ndenumerate(activation)), reverse=True)
    chosen: list[tuple[float, int, int, int]] = []
    reach = request.spec["patch_strides"] / 2  # in map cells: patches may overlap by half, no more
    for value, index, y, x in candidates:
        if all(other != index or max(abs(y - oy), abs(x - ox)) >= reach for _, other, oy, ox in chosen):
            chosen.append((value, index, y, x))
        if len(chosen) == request.spec["examples"]:
            break
    tiles, examples = [], []
    for value, index, y, x in chosen:
        image = request.inputs[index]
        box = _patch_box(image.pixels.shape[:2], maps[index].shape, (y, x), request.spec["patch_strides"])
        top, left, bottom, right = box
        tiles.append(render.resize(np.ascontiguousarray(image.pixels[top:bottom, left:right]), (PATCH_TILE, PATCH_TILE)))
        examples.append(Example(image.name, value, (left, top, right, bottom)))
    peak = max(float(activation.max()) for activation in maps)
    return Result(
        arrays={LayerAscentRoles.ACTIVATIONS: np.asarray([c[0] for c in chosen], dtype=np.float32)},
        images={LayerAscentRoles.EXAMPLES: render.grid(tiles, columns=len(tiles))},
        meta=ExamplesMeta(layer, filter_index, peak, tuple(examples)),
    )


def _patch_box(shape: tuple[int, int], grid: tuple[int, int], cell: tuple[int, int], strides: float):
    """(top, left, bottom, right) in the image's own pixels: ``strides`` map cells wide, centred on
    ``cell``, moved (not cut) to stay inside the image."""
    box = []
    for length, cells, at in zip(shape, grid, cell):
        step = length / cells
        size = min(length, max(1, round(strides * step)))
        start = min(max(0, round((at + 0.5) * step - size / 2)), length - size)
        box.append((start, start + size))
    (top, bottom), (left, right) = box
    return top, left, bottom, right


def _full_convolutions(card) -> list:
    """Convolutions that mix channels: a depthwise one's filter sees a single input channel."""
    shapes = dict(card.parameters)
    return [info for info in card.conv_layers() if shapes.get(f"{info.name}.weight", (0, 2))[1] > 1]


def _parse_unit(text: str) -> tuple[str, int | None]:
    """``"features.12:5"`` -> ("features.12", 5); ``"features.12:*"`` -> ("features.12", None): every unit."""
    layer, separator, number = text.rpartition(":")
    if not separator or not layer or not (number.strip().isdigit() or number.strip() == "*"):
        raise ParamError(f"a unit is 'layer:filter' or 'layer:*' (e.g. features.12:5), got {text!r}")
    return layer.strip(), None if number.strip() == "*" else int(number)
