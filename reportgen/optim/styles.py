"""The two styles of activation maximisation.

- ``naive``: the classic scripts' method. The input values themselves are optimised with Adam,
  starting from a seeded image uniform in [140, 180] / 255, nothing else: the result is the
  high-frequency, adversarial-looking pattern gradient ascent finds when nothing stops it.
- ``robust``: a decorrelated Fourier parameterisation whose spectrum falls off faster than 1 / f,
  and a random transform stack (pad, jitter, zoom, rotation, colour shift, resize to the model's
  input size) before every forward (Olah et al., Distill 2017). Only structure that survives
  every transform is rewarded, so shapes grow instead of grain.

The styles differ in canvas size and steps, so each batch holds one style. Each style draws its
start from its own generator seeded with ``seed`` (all images of a style start alike), and the
robust transforms from one seeded with ``seed + 1``: an image's frames do not depend on which
other runs share its batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from reportgen.optim import STYLES, AscentParams, style_settings
from reportgen.optim.ascent import Group, Trace, adam_ascent
from reportgen.optim.objectives import Penalty, Score, norm_penalty
from reportgen.optim.parameterisation import FourierImage, PixelImage
from reportgen.optim.transforms import TransformStack
from reportgen.artifacts import Result
from reportgen.meta import AscentRoles, Meta
from reportgen.techniques.base import batched

START_RANGE = (140 / 255, 180 / 255)  # the naive style's start: uniform grey-ish noise


def robust_transform(model: Any, settings: AscentParams) -> TransformStack:
    """The robust style's transforms, ending at the model's input size, padded with mid-grey."""
    grey = model.normalise(torch.full((1, 3, 1, 1), 0.5, device=model.device))[0, :, 0, 0].tolist()
    return TransformStack(pad=settings.pad, jitter=settings.jitter, scale=(1 - settings.zoom, 1 + settings.zoom),
                          degrees=settings.degrees, view=model.card.input_size, colour=settings.colour_shift,
                          fill=tuple(grey))


def group_for(style: str, count: int, model: Any, settings: AscentParams) -> Group:
    """The parameterisation, learning rate and transform of ``count`` images of one style."""
    _, height, width, lr = style_settings(settings, style)
    generator = torch.Generator().manual_seed(settings.seed)
    if style == "naive":
        low, high = START_RANGE
        start = low + (high - low) * torch.rand((1, 3, height, width), generator=generator)
        start = model.normalise(start.to(model.device)).expand(count, -1, -1, -1)
        return Group(PixelImage(start), lr)
    if style == "robust":
        image = FourierImage(count, height, width, model.normalise, generator, model.device,
                             decay_power=settings.decay_power)
        return Group(image, lr, robust_transform(model, settings))
    raise ValueError(f"unknown style {style!r}; valid: {', '.join(STYLES)}")


@dataclass
class Measured:
    """A batch's final pictures as the model sees them: the score's values, and its features."""

    values: dict[str, np.ndarray]  # name -> (images,)
    features: np.ndarray  # (images, features)


def visualise(model: Any, style: str, count: int, score: Score, penalty: Penalty, settings: AscentParams,
              tick: Callable[[int], None] = lambda step: None) -> tuple[Trace, Measured]:
    """Run the ascent for a batch of ``count`` images of one style, then measure the final frames
    as the model sees them (uint8, clipped, untransformed; the robust canvas resized to the model's
    input size, as the model saw it during the ascent): that is what the gallery shows."""
    group = group_for(style, count, model, settings)
    transforms = torch.Generator().manual_seed(settings.seed + 1)
    steps = style_settings(settings, style)[0]
    trace = adam_ascent([group], score, penalty, steps, settings.frames, model.denormalise, transforms, tick)
    view = model.card.input_size if style == "robust" else None
    return trace, measure(model, [frames[-1] for frames in trace.frames], score, view)


def measure(model: Any, pictures: Sequence[np.ndarray], score: Score, side: int | None = None) -> Measured:
    """The score's values for uint8 pictures, at their own size or resized to ``side`` px, and the
    network's features of them (``LoadedModel.features``, for regression checks)."""
    pixels = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float().div(255).to(model.device)
    if side is not None and pixels.shape[-1] != side:
        pixels = torch.nn.functional.interpolate(pixels, size=(side, side), mode="bilinear", align_corners=False,
                                                 antialias=True)
    inputs = model.normalise(pixels)
    with torch.inference_mode():
        values = score(inputs)
    return Measured({name: value.float().cpu().numpy() for name, value in values.items()}, model.features(inputs))


@dataclass
class Run:
    """One image's optimisation: its frames, the values at each frame, the values of its result."""

    frames: list[np.ndarray]
    history: dict[str, np.ndarray]
    final: dict[str, float]
    features: np.ndarray  # the model's features of the final frame (LoadedModel.features)
    frame_steps: list[int]

    def result(self, meta: Meta) -> Result:
        return Result(arrays={**self.history, AscentRoles.FEATURES: self.features},
                      images={AscentRoles.FINAL: self.frames[-1]}, animations={AscentRoles.GIF: self.frames}, meta=meta)


def run_requests(model: Any, requests: Sequence[Any], settings: AscentParams, score_for: Callable[[list], Score],
                 progress: Any) -> Iterator[tuple[Any, Run]]:
    """Run requests (``spec`` with "style" and "regulariser") in batches of at most
    ``settings.batch_size`` of one style; ``score_for(batch)`` builds the batch's score. Yields
    each request's Run."""
    ordered = sorted(requests, key=lambda request: STYLES.index(request.spec["style"]))
    batches = list(batched(ordered, settings.batch_size, key=lambda request: request.spec["style"]))
    lengths = [style_settings(settings, batch[0].spec["style"])[0] for batch in batches]
    total = sum(lengths)
    weights = {"none": 0.0, "l1": settings.l1_weight, "l2": settings.l2_weight}
    for number, batch in enumerate(batches):
        kinds = [request.spec["regulariser"] for request in batch]
        penalty = norm_penalty(kinds, [weights[kind] for kind in kinds])
        done = sum(lengths[:number])
        trace, final = visualise(model, batch[0].spec["style"], len(batch), score_for(batch), penalty, settings,
                                 lambda step: progress.tick(done + step, total))
        for row, request in enumerate(batch):
            history = {name: values[:, row] for name, values in trace.history.items()}
            yield request, Run(trace.frames[row], history, {k: float(v[row]) for k, v in final.values.items()},
                               final.features[row], trace.frame_steps)
