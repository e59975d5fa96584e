"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the model's top class loses when a square
of the dataset's mean colour hides each part of the input.

A technique is one ``Technique`` subclass: a frozen ``Params`` dataclass (what ``--set
occlusion.FIELD=VALUE`` and ``reportgen list params`` show), its typed ``Meta``, ``plan`` (one
request per artifact, torch-free) and ``compute`` (torch imported inside), and its page's
``template``, kept beside this module. Registered by the ``reportgen.techniques`` entry point in
pyproject.toml."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from reportgen.pictures import render
from reportgen.core.meta import Meta
from reportgen.gallery.formats import percent
from reportgen.core.lazy import torch
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, batched, not_keyed
from reportgen.techniques.shared_view import Grid

DISPLAY_SIDE = 320  # the longer side of the published heat map


@dataclass(frozen=True)
class OcclusionMeta(Meta):
    class_index: int  # the model's top-1 class on the whole input, the class explained
    class_name: str
    probability: float  # its probability on the whole input
    largest_drop: float  # the most it fell with one square hidden


@dataclass(frozen=True)
class OcclusionView:
    cells: Grid  # the heat maps by (model, input)


class Roles:
    OVERLAY = "overlay"  # picture: the drop in probability as a heat map over the input
    DROP = "drop"  # raw array: the drop per square position, rows x columns


@dataclass(frozen=True)
class Params:
    patch: float = 0.25  # the square's side, as a share of the model input's shorter side
    stride: float = 0.125  # the square's step, as the same share
    batch_size: int = not_keyed(16, "how many go through the model at once")


class Occlusion(Technique):
    name = "occlusion"
    title = "Occlusion sensitivity"
    description = ("Where hiding part of an input costs the model's top class most (Zeiler & Fergus 2014): a square "
                   "of the dataset's mean colour slid over the input, the drop in the class's probability at each place.")
    Params = Params
    Meta = OcclusionMeta
    Roles = Roles
    template = "occlusion.html"  # beside this module: a name of its own, as reportgen's templates are searched first
    presets = {"quick": {"stride": 0.25}}

    def view(self, manifest, artifacts):
        """What the template lays out beside the artifacts (torch-free: the site calls it)."""
        return OcclusionView(Grid(artifacts))

    def plan(self, params, card, images, context=NO_CONTEXT):
        if not 0 < params.stride <= params.patch <= 1:
            raise ValueError("occlusion needs 0 < stride <= patch <= 1")
        return [Request("drop", params, image) for image in images]  # its Params are its request

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        for done, request in enumerate(requests, 1):
            inputs = model.inputs([request.image.pixels])
            height, width = inputs.shape[2:]
            side = max(1, round(params.patch * min(height, width)))
            step = max(1, round(params.stride * min(height, width)))
            rows, columns = range(0, height - side + 1, step), range(0, width - side + 1, step)
            hidden = []
            with torch.inference_mode():
                whole = model.module(inputs).softmax(dim=1)[0]
                target = int(whole.argmax())
                for corners in batched(product(rows, columns), params.batch_size):
                    copies = inputs.repeat(len(corners), 1, 1, 1)
                    for copy, (top, left) in zip(copies, corners):
                        copy[:, top:top + side, left:left + side] = 0.0  # the dataset's mean after normalising
                    hidden.append(model.module(copies).softmax(dim=1)[:, target])
            drop = (whole[target] - torch.cat(hidden)).reshape(len(rows), len(columns)).float().cpu().numpy()
            photo = render.fit_within(np.ascontiguousarray(request.image.pixels), DISPLAY_SIDE)
            heat = np.clip(drop, 0, None)
            meta = OcclusionMeta(target, model.card.category(target), round(float(whole[target]), 6),
                                 round(float(drop.max()), 6))
            yield request, Result(arrays={Roles.DROP: drop},
                                  images={Roles.OVERLAY: render.overlay(photo, heat / heat.max() if heat.max() > 0 else heat)},
                                  meta=meta)
            progress.tick(done, len(requests))

    def caption(self, artifact):
        return f"{artifact.meta.class_name}: hiding a square costs up to {percent(artifact.meta.largest_drop)}"
