"""Class models by gradient ascent (Simonyan et al., 2013): the image that maximises a class score.

argmax_I S_c(I) - R(I), with no regulariser R, an L1 or an L2 one, in two styles: naive pixel
ascent and the robust one (Fourier parameterisation + random transforms, see optim/styles.py).
The class x regulariser runs of one style go through the model as one batch; each becomes a looping
animation of its optimisation, its final frame, the objective / probability at each frame, and the final
probability measured on the final frame as shown. Keyed per model, not per image.

Regularisers are explicit penalty terms on the normalised input, lambda * mean|I| and
lambda * mean(I^2), rather than an optimiser's weight decay, so that L1 and L2 are the same kind of
thing and the robust style, whose variable is a spectrum, is regularised on the image too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from reportgen.core.choices import check_choices
from reportgen.core.ascent_meta import AscentRoles, ClassAscentMeta
from reportgen.optim import REGULARISERS, STYLES, AscentParams, NaiveRun, RobustRun, fitted, run_gflop, run_of, sized
from reportgen.techniques import class_ascent_view
from reportgen.techniques.base import NO_CONTEXT, Request, Technique, register, not_keyed

DEFAULT_CLASSES = (52, 77, 231)  # thunder snake, wolf spider, collie: the classic scripts' classes


@dataclass(frozen=True)
class Params(AscentParams):
    classes: tuple[str, ...] = ()  # indices or category names; empty = 52, 77, 231
    regularisers: tuple[str, ...] = ("none", "l1", "l2")
    styles: tuple[str, ...] = ("naive", "robust")
    budget_s: float = not_keyed(40.0, "the step counts it shrinks are keyed")


@dataclass(frozen=True)
class ClassRun:
    """One class's run: the class, and the run's style settings and regulariser."""

    class_index: int
    run: NaiveRun | RobustRun


@register
class ClassAscent(Technique):
    """The picture that maximises a class's score, per (class, regulariser, style); keyed per model.

    Params: ``classes`` (indices or names; empty: 52, 77, 231), ``regularisers`` (none, l1, l2)
    with ``l1_weight`` / ``l2_weight``, ``styles`` (naive, robust), and the ascent's settings
    (``AscentParams``: steps, frames, canvas, learning rates, transforms, seed, batch size).
    Meta: ``ClassAscentMeta``: ``class_index``, ``class_name``, ``regulariser``, ``style``, on the
    final picture the class's ``probability`` and ``logit`` and the model's top-1 (``top1_index``,
    ``top1_name``), and each frame's step (``frame_steps``).
    Roles: ``gif`` (animation), ``final`` (picture), ``features`` and the per-frame values (raw arrays).
    """
    name = "class_ascent"
    title = "Class ascent (class models)"
    classic = ("Simonyan, Vedaldi & Zisserman 2014, \u201cDeep inside convolutional networks\u201d (class models); "
               "robust style: Olah, Mordvintsev & Schubert 2017, \u201cFeature visualization\u201d (Distill)")
    description = (
        "Starting from a plain image, gradient ascent changes the pixels until the model's score "
        "for a class is as high as it gets, optionally with a regulariser on the pixel values (L1, L2). The "
        "naive style finds adversarial texture; the robust style (decorrelated Fourier image; "
        "padding, jitter, zoom, rotation and a colour shift at each step; seen by the model at its "
        "input size) finds shapes. Under each animation: the model's probability for the class on "
        "the final image."
    )
    version = 4  # 4: records the features of its final pictures (regression checks); 3: robust canvas, decay, transforms
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = ClassAscentMeta
    Roles = AscentRoles
    presets = {
        "quick": {"steps": 6, "frames": 3, "height": 48, "width": 48, "robust_steps": 6, "robust_side": 48, "budget_s": 0.0},
        "full": {"steps": 200, "frames": 40, "height": 400, "width": 600, "batch_size": 6, "robust_steps": 128,
                 "budget_s": 400.0},
    }
    per_image = False
    optimises = True
    chaotic_styles = ("robust",)

    def view(self, manifest, artifacts):
        return class_ascent_view.view(manifest, artifacts)

    def classes_for(self, params: Params, card) -> list[int]:
        if params.classes:
            return list(dict.fromkeys(card.class_index(label) for label in params.classes))
        if len(card.categories) > max(DEFAULT_CLASSES):
            return list(DEFAULT_CLASSES)
        return sorted({int(i) for i in np.linspace(0, len(card.categories) - 1, 3).round()})

    def plan(self, params, card, images, context=NO_CONTEXT):
        check_choices("regulariser", params.regularisers, REGULARISERS)
        check_choices("style", params.styles, STYLES)
        classes = self.classes_for(params, card)
        params = sized(fitted(params, card), card, list(params.styles) * len(params.regularisers) * len(classes))
        requests = []
        for index in classes:
            for regulariser in params.regularisers:
                for style in params.styles:
                    run = run_of(params, regulariser, style)
                    requests.append(Request(f"{index}/{regulariser}/{style}", ClassRun(index, run), animated=True))
        return requests

    def gflop(self, params, card, requests):
        return sum(run_gflop(request.args.run, card) for request in requests)

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        from reportgen.optim.objectives import class_logit
        from reportgen.optim.styles import run_requests

        def score_for(batch):
            return class_logit(model.for_gradients(), [request.args.class_index for request in batch])

        tracked = ("objective", "probability")
        for request, run in run_requests(model, requests, params.batch_size, score_for, progress, tracked):
            index, top1, settings = request.args.class_index, int(run.final["top1"]), request.args.run
            yield request, run.result(ClassAscentMeta(
                class_index=index, class_name=model.card.category(index),
                regulariser=settings.regulariser, style=settings.style,
                probability=run.final["probability"], logit=run.final["score"],
                top1_index=top1, top1_name=model.card.category(top1), frame_steps=tuple(run.trace.frame_steps),
                steps=run.trace.steps, step_cap=settings.step_cap,
            ))
