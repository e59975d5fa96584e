"""Top-5 predictions of each model for each input: shown on every gallery page, and the default
class that attribution techniques explain. One batched forward pass in inference mode."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reportgen.core.lazy import torch
from reportgen.core.meta import Prediction, PredictionRoles as Roles, PredictionsMeta
from reportgen.techniques.base import NO_CONTEXT, Request, Result, Technique, batched, register, not_keyed


@dataclass(frozen=True)
class Params:
    top: int = 5
    batch_size: int = not_keyed(16, "how many go through the model at once")


@register
class Predictions(Technique):
    """The model's most probable classes for each image.

    Params: ``top`` (how many classes), ``batch_size`` (images per forward pass; not in the key).
    Meta: ``PredictionsMeta.top``, a ``Prediction`` (``class_index``, ``class_name``,
    ``probability``) per class, most probable first.
    Roles: ``logits`` (raw array).
    """
    Params = Params
    Meta = PredictionsMeta
    Roles = Roles
    gallery = False
    name = "predictions"
    title = "Predictions"
    classic = ("Krizhevsky, Sutskever & Hinton 2012, \u201cImageNet classification with deep convolutional neural "
               "networks\u201d (top-5 predictions)")
    description = "What each model sees in each image: its five most probable classes."
    version = 1

    def plan(self, params, card, images, context=NO_CONTEXT):
        return [Request("top", params, image) for image in images]  # every keyed field is read

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        done = 0
        for chunk in batched(requests, params.batch_size):
            with torch.inference_mode():
                logits = model.module(model.inputs([r.image.pixels for r in chunk])).float().cpu()
            probabilities = logits.softmax(dim=1).numpy()
            for request, row, raw in zip(chunk, probabilities, logits.numpy()):
                order = np.argsort(-row, kind="stable")[: params.top]
                top = tuple(Prediction(int(i), model.card.category(int(i)), float(row[i])) for i in order)
                yield request, Result(arrays={Roles.LOGITS: raw.astype(np.float32)}, meta=PredictionsMeta(top))
                done += 1
            progress.tick(done, len(requests))
