"""Filter visualisation by gradient ascent: the image that maximises one filter's mean activation.

argmax_I M_ij(I) - penalty(I), where M_ij is the mean over positions of channel j of layer i. The
same loop, styles and penalties as class_ascent; only the network up to the deepest chosen layer
runs. Every (layer, filter) x style run of a model is one batch; each becomes a looping GIF and
its final frame. Keyed per model, not per image.

The seed's layer ascent used Adam weight decay 1e-6, which is no penalty to speak of: the default
here is none, and L1 / L2 are available as explicit terms.
"""
from __future__ import annotations

from dataclasses import dataclass

from reportgen.optim import PENALTIES, STYLES, check_choices, style_spec
from reportgen.techniques.base import ParamError, Request, Technique, register, spec_of

# The seed's VGG16 units (indices into `features`: conv3_3 filter 5, conv5_1 filter 25).
SEED_UNITS = {"vgg16": (("features.12", 5), ("features.24", 25))}
# Elsewhere: channel-mixing convolutions at the same relative depths as the seed's (12 and 24 of
# VGG16's 30 feature modules), with the seed's filter numbers wrapped to the layer's channel count.
DEFAULT_DEPTHS = ((0.4, 5), (0.8, 25))


@dataclass(frozen=True)
class Params:
    units: tuple[str, ...] = ()  # "layer:filter", e.g. "features.12:5"; empty = the seed's or by depth
    regulariser: str = "none"
    styles: tuple[str, ...] = ("naive", "robust")
    l1_weight: float = 30.0
    l2_weight: float = 30.0
    steps: int = 60
    frames: int = 20
    height: int = 128
    width: int = 128
    lr: float = 0.1
    robust_lr: float = 0.05
    seed: int = 0
    batch_size: int = 18


@register
class LayerAscent(Technique):
    name = "layer_ascent"
    title = "Filter visualisation (gradient ascent)"
    description = (
        "The same gradient ascent as the class models, but maximising the mean activation of one "
        "filter of an intermediate layer: what that filter responds to. Naive pixel ascent beside "
        "the robust style (decorrelated Fourier image, random jitter, scale and rotation)."
    )
    version = 2  # 2: batch norms folded into their convolutions (reportgen/folding.py)
    Params = Params
    presets = {
        "quick": {"steps": 6, "frames": 3, "height": 48, "width": 48},
        "full": {"steps": 200, "frames": 40, "height": 400, "width": 600, "batch_size": 4},
    }
    per_image = False

    def units_for(self, params: Params, card) -> list[tuple[str, int]]:
        if params.units:
            return [_parse_unit(text) for text in params.units]
        if card.name in SEED_UNITS:
            return list(SEED_UNITS[card.name])
        convs = _full_convolutions(card) or card.feature_layers()
        units = []
        for depth, filter_index in DEFAULT_DEPTHS:
            info = convs[round(depth * (len(convs) - 1))]
            units.append((info.name, filter_index % info.channels))
        return list(dict.fromkeys(units))

    def plan(self, params, card, images):
        if params.regulariser not in PENALTIES:
            raise ParamError(f"unknown regulariser {params.regulariser}; valid: {', '.join(PENALTIES)}")
        check_choices(params, "styles", STYLES)
        requests = []
        for layer, filter_index in self.units_for(params, card):
            channels = card.layer(layer).channels
            if not channels or not 0 <= filter_index < channels:
                raise ParamError(f"{card.name} layer {layer} has {channels or 0} filters; {filter_index} is out of range")
            for style in params.styles:
                spec = spec_of(params, units=None, styles=None, batch_size=None, layer=layer, filter=filter_index,
                               **style_spec(params, params.regulariser, style))
                requests.append(Request(f"{layer}:{filter_index}/{style}", spec))
        return requests

    def compute(self, params, model, requests, progress):
        from reportgen.optim.objectives import channel_mean
        from reportgen.optim.styles import run_requests

        def score_for(batch):
            layers = [r.spec["layer"] for r in batch]
            return channel_mean(model.for_gradients(layers), layers, [r.spec["filter"] for r in batch])

        for request, run in run_requests(model, requests, params, score_for, progress):
            yield request, run.result({
                "layer": request.spec["layer"], "filter": request.spec["filter"], "style": request.spec["style"],
                "regulariser": request.spec["regulariser"], "final_activation": run.final["score"],
            })


def _full_convolutions(card) -> list:
    """Convolutions that mix channels: a depthwise one's filter sees a single input channel."""
    shapes = dict(card.parameters)
    return [info for info in card.conv_layers() if shapes.get(f"{info.name}.weight", (0, 2))[1] > 1]


def _parse_unit(text: str) -> tuple[str, int]:
    layer, separator, number = text.rpartition(":")
    if not separator or not layer or not number.strip().isdigit():
        raise ParamError(f"a unit is 'layer:filter' (e.g. features.12:5), got {text!r}")
    return layer.strip(), int(number)
