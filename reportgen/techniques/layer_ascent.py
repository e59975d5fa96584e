"""Layer ascent: the image that maximises one unit's mean activation (a unit: one filter's output
channel), beside the patches of the input images that excite that unit most.

argmax_I M_ij(I) - R(I), where M_ij is the mean over positions of channel j of layer i. The
same loop, styles and regularisers R as class_ascent; only the network up to the deepest chosen layer
runs. Each (layer, filter) x style run becomes a looping animation and its final frame, keyed per model.

A visualisation alone can mislead (it may show what the unit *could* respond to, not what it does
respond to in photos), so, as OpenAI Microscope does, each unit also gets its *dataset examples*:
the input-image patches where the unit's activation peaks, and the highest activation over the
inputs, against which the visualisation's own peak is shown. Those depend on the input images, so
that artifact's spec holds the pixel hashes of every input: it is recomputed when any input
changes, and only then. With ``examples_dir`` (``--examples DIR``) they come from that folder
instead, mined in one streaming pass per model (reportgen/techniques/dataset_examples.py) and keyed by the
folder's content.

The default regulariser is none: Adam weight decay 1e-6, as in the classic scripts, is no regulariser to
speak of; L1 / L2 are available as explicit terms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, TypeAlias

import numpy as np

from reportgen.pictures import render
from reportgen.core.choices import ParamError, check_choice, check_choices
from reportgen.techniques.dataset_examples import ExamplesError, Mined, example_folder, mine
from reportgen.core.ascent_meta import Example, LayerAscentRoles, ExamplesMeta, UnitMeta
from reportgen.optim import REGULARISERS, STYLES, AscentParams, NaiveRun, RobustRun, fitted, run_gflop, run_of, sized
from reportgen.techniques import layer_ascent_view
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, register, not_keyed, request_of

# VGG16's classic units (indices into `features`: conv3_3 filter 5, conv5_1 filter 25).
VGG16_UNITS = {"vgg16": (("features.12", 5), ("features.24", 25))}
# Elsewhere: channel-mixing convolutions at the same relative depths (12 and 24 of VGG16's 30
# feature modules), with the same filter numbers wrapped to the layer's channel count.
DEFAULT_DEPTHS = ((0.4, 5), (0.8, 25))


@dataclass(frozen=True)
class Params(AscentParams):
    units: tuple[str, ...] = ()  # "layer:filter" ("features.12:5") or "layer:*" (all); empty = VGG16's pair or by depth
    regulariser: str = "none"
    styles: tuple[str, ...] = ("naive", "robust")
    examples: int = 6  # input-image patches shown per unit (0: none)
    patch_strides: float = 6.0  # a patch's side, in strides of the layer (its rough receptive field)
    budget_s: float = not_keyed(20.0, "the step counts it shrinks are keyed")
    # a folder the patches come from (--examples DIR); empty: the input images
    examples_dir: str = not_keyed("", "the digest of its content is keyed")
    # follow links that leave the examples folder (--follow-links)
    examples_follow_links: bool = not_keyed(False, "the digest of the content read is keyed")


@dataclass(frozen=True)
class UnitRun:
    """One unit's visualisation: the unit, and the run's style settings and regulariser."""

    layer: str
    filter: int
    run: NaiveRun | RobustRun


@dataclass(frozen=True)
class UnitExamples:
    """One unit's dataset examples: the ``examples`` patches where it peaks over the inputs (their
    pixel hashes in ``inputs``) or over an examples folder (its content's digest in ``folder``)."""

    layer: str
    filter: int
    examples: int
    patch_strides: float
    inputs: tuple[str, ...] | None = None
    folder: str | None = None


@register
class LayerAscent(Technique):
    """The picture that maximises one unit (a channel of a layer), per (unit, style), and the unit's
    dataset examples; keyed per model (the examples also by every input's pixels).

    Params: ``units`` ("layer:filter" or "layer:*"; empty: by depth), ``regulariser``, ``styles``,
    ``examples`` (patches per unit; 0: none), ``patch_strides``, ``examples_dir`` (the folder they
    come from; empty: the inputs), and ``AscentParams``.
    Meta: a visualisation's ``UnitMeta`` (``layer``, ``filter``, ``style``, ``regulariser``,
    ``final_activation``, ``final_peak``, ``frame_steps``); the examples' ``ExamplesMeta``
    (``layer``, ``filter``, ``input_peak``, an ``Example`` per patch: image, activation, box; and
    from a folder, ``images``: how many were mined).
    Roles: ``gif``, ``final``, ``features`` as class ascent; the examples' ``examples`` picture and
    ``activations`` array.
    """
    name = "layer_ascent"
    title = "Layer ascent (what one unit responds to)"
    classic = ("Erhan et al. 2009 (activation maximisation); Olah, Mordvintsev & Schubert 2017 (Distill); "
               "dataset examples: Zeiler & Fergus 2014, Girshick et al. 2014")
    description = (
        "The same gradient ascent as the class models, but maximising the mean activation of one "
        "unit (one filter's channel) of an intermediate layer: what that unit responds to. Naive "
        "pixel ascent beside the robust style, and the patches of the input images where the unit "
        "responds most."
    )
    version = 4  # 4: features of its final pictures (regression checks); 3: robust canvas, decay, transforms; examples
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = UnitMeta | ExamplesMeta
    Roles = LayerAscentRoles
    presets = {
        "quick": {"steps": 6, "frames": 3, "height": 48, "width": 48, "robust_steps": 6, "robust_side": 48, "budget_s": 0.0},
        "full": {"steps": 200, "frames": 40, "height": 400, "width": 600, "batch_size": 4, "robust_steps": 128,
                 "budget_s": 200.0},
    }
    per_image = True  # for the examples; the visualisations themselves are keyed per model
    optimises = True

    def default_layers(self, params, card):
        return [layer for layer, _ in self.units_for(params, card)]

    def view(self, manifest, artifacts):
        return layer_ascent_view.view(manifest, artifacts)

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

    def plan(self, params, card, images, context=NO_CONTEXT):
        check_choice("regulariser", params.regulariser, REGULARISERS)
        check_choices("style", params.styles, STYLES)
        units = self.units_for(params, card)
        params = sized(fitted(params, card), card, list(params.styles) * len(units))
        requests = []
        folder = example_folder(params.examples_dir, params.examples_follow_links) if params.examples > 0 and params.examples_dir else None
        for layer, filter_index in units:
            channels = card.layer(layer).channels
            if not channels or not 0 <= filter_index < channels:
                raise ParamError(f"{card.name} layer {layer} has {channels or 0} filters; {filter_index} is out of range")
            for style in params.styles:
                run = run_of(params, params.regulariser, style)
                requests.append(Request(f"{layer}:{filter_index}/{style}", UnitRun(layer, filter_index, run),
                                        animated=True))
            if params.examples > 0 and (folder or images):
                variant = f"{layer}:{filter_index}/examples"
                if folder:  # keyed by the folder's content, the same for every input
                    examples = request_of(UnitExamples, params, layer=layer, filter=filter_index, folder=folder.digest)
                    requests.append(Request(variant, examples))
                else:
                    examples = request_of(UnitExamples, params, layer=layer, filter=filter_index,
                                          inputs=tuple(sorted(i.pixel_hash for i in images)))
                    requests.append(Request(variant, examples, inputs=tuple(images)))
        return requests

    def gflop(self, params, card, requests):
        runs = [request for request in requests if isinstance(request.args, UnitRun)]
        examples = [request for request in requests if not isinstance(request.args, UnitRun)]
        # a folder of examples is read once per unit; its image count is not known before it is read
        return sum(run_gflop(request.args.run, card) for request in runs) + super().gflop(params, card, examples)

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        from reportgen.optim.objectives import layer_activation
        from reportgen.optim.styles import run_requests

        def score_for(batch):
            layers = [r.args.layer for r in batch]
            return layer_activation(model.for_gradients(layers), layers, [r.args.filter for r in batch], "mean",
                                    model.layer_maps)

        yield from dataset_examples(model, [r for r in requests if isinstance(r.args, UnitExamples)], params, progress)
        visualisations = [r for r in requests if isinstance(r.args, UnitRun)]
        for request, run in run_requests(model, visualisations, params.batch_size, score_for, progress):
            unit, settings = request.args, request.args.run
            side = model.card.input_size if isinstance(settings, RobustRun) else None
            peak = float(channel_maps(model, [run.trace.frames[-1]], unit.layer, unit.filter, side)[0].max())
            yield request, run.result(UnitMeta(
                layer=unit.layer, filter=unit.filter, style=settings.style,
                regulariser=settings.regulariser, final_activation=run.final["score"],
                final_peak=peak, frame_steps=tuple(run.trace.frame_steps),
                steps=run.trace.steps, step_cap=settings.step_cap,
            ))


def channel_maps(model, pictures, layer: str, filter_index: int, side: int | None = None) -> list[np.ndarray]:
    """One channel's activation map (float HxW) for each uint8 picture, resized whole to ``side``
    px square (None: the picture's own size; either fitted to the sizes the model accepts), as the
    model sees it, whatever the layer's layout."""
    from reportgen.models.hooks import forward_until
    from reportgen.core.lazy import torch

    maps = []
    with torch.inference_mode():
        for picture in pictures:
            size = model.card.fit_size(*((side, side) if side else picture.shape[:2]))
            output = forward_until(model.module, model.inputs([picture], size), [layer])[layer]
            maps.append(model.layer_maps(layer, output, size)[0, filter_index].float().cpu().numpy())
    return maps


def dataset_examples(model, requests: list[Request], params: Params, progress) -> Iterator[tuple[Request, Result]]:
    """Every requested unit's dataset examples, from one pass over their images (the inputs, or
    the examples folder read lazily in batches; reportgen/techniques/dataset_examples.py)."""
    if not requests:
        return
    first: UnitExamples = requests[0].args
    units = [(r.args.layer, r.args.filter) for r in requests]
    if first.folder is None:
        inputs = {image.name: image for image in requests[0].inputs}
        mined = mine(model, units, requests[0].inputs, first.examples, first.patch_strides, inputs.__getitem__)
    else:
        folder = example_folder(params.examples_dir, params.examples_follow_links)
        if folder.digest != first.folder:
            raise ExamplesError(f"examples folder {folder.root} changed during the build; build again")
        files, skipped = len(folder.files), []

        def skip(item):
            skipped.append(item)
            progress.message(f"examples folder: {item}")

        progress.step(f"layer_ascent on {model.card.name}: dataset examples, {len(units)} units over {files} files")
        mined = mine(model, units, folder.images(skip), first.examples, first.patch_strides, folder.reload,
                     on_batch=lambda done: progress.tick(done + len(skipped), files))
        progress.step(f"layer_ascent on {model.card.name}")
    for request, unit in zip(requests, units):
        yield request, _examples_result(unit, mined[unit], from_folder=first.folder is not None)


def _examples_result(unit: tuple[str, int], mined: Mined, from_folder: bool) -> Result:
    return Result(
        arrays={LayerAscentRoles.ACTIVATIONS: np.asarray([peak.value for peak in mined.peaks], dtype=np.float32)},
        images={LayerAscentRoles.EXAMPLES: render.grid(mined.tiles, columns=len(mined.tiles))},
        meta=ExamplesMeta(*unit, mined.peak, tuple(Example(p.image, p.value, p.box) for p in mined.peaks),
                          images=mined.images if from_folder else None),
    )


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
