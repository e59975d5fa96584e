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

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from reportgen.optim import STYLES, AscentParams, style_settings
from reportgen.optim.ascent import ascent, frame_steps
from reportgen.optim.objectives import Regulariser, Score, norm_regulariser
from reportgen.optim.parameterisation import FourierImage, Parameterisation, PixelImage
from reportgen.optim.transforms import TransformStack
from reportgen.artifacts import Result
from reportgen.batching import batched
from reportgen.meta import AscentRoles, Meta

START_RANGE = (140 / 255, 180 / 255)  # the naive style's start: uniform grey-ish noise


def robust_transform(model: Any, settings: AscentParams) -> TransformStack:
    """The robust style's transforms, ending at the model's input size, padded with mid-grey."""
    grey = model.normalise(torch.full((1, 3, 1, 1), 0.5, device=model.device))[0, :, 0, 0].tolist()
    return TransformStack(pad=settings.pad, jitter=settings.jitter, scale=(1 - settings.zoom, 1 + settings.zoom),
                          degrees=settings.degrees, view=model.card.input_size, colour=settings.colour_shift,
                          fill=tuple(grey))


def start_for(style: str, count: int, model: Any, settings: AscentParams
              ) -> tuple[Parameterisation, TransformStack | None]:
    """The parameterisation and transform of ``count`` images of one style."""
    _, height, width, _ = style_settings(settings, style)
    generator = torch.Generator().manual_seed(settings.seed)
    if style == "naive":
        low, high = START_RANGE
        start = low + (high - low) * torch.rand((1, 3, height, width), generator=generator)
        start = model.normalise(start.to(model.device)).expand(count, -1, -1, -1)
        return PixelImage(start), None
    if style == "robust":
        image = FourierImage(count, height, width, model.normalise, generator, model.device,
                             decay_power=settings.decay_power)
        return image, robust_transform(model, settings)
    raise ValueError(f"unknown style {style!r}; valid: {', '.join(STYLES)}")


@dataclass
class Trace:
    """A batch's optimisation as recorded at its frame steps."""

    frames: list[list[np.ndarray]]  # per image: uint8 HxWx3 frames, the last one the result
    history: dict[str, np.ndarray]  # "objective", "score" and the score's extras: (frames, images)
    frame_steps: list[int]  # the step each frame shows (0 = the start image)


@dataclass
class Measured:
    """A batch's final pictures as the model sees them: the score's values, and its features."""

    values: dict[str, np.ndarray]  # name -> (images,)
    features: np.ndarray  # (images, features)


def visualise(model: Any, style: str, count: int, score: Score, regulariser: Regulariser, settings: AscentParams,
              tick: Callable[[int], None] = lambda step: None) -> tuple[Trace, Measured]:
    """Run Adam on a batch of ``count`` images of one style, recording ``settings.frames`` frames:
    step s's frame shows the image after s updates, with the values that very image got (robust:
    as transformed for that step). Then measure the final frames as the model sees them (uint8,
    clipped, untransformed; the robust canvas resized to the model's input size, as the model saw
    it during the ascent): that is what the gallery shows."""
    image, transform = start_for(style, count, model, settings)
    steps, _, _, lr = style_settings(settings, style)
    optimiser = torch.optim.Adam(image.parameters(), lr=lr)
    transforms = torch.Generator().manual_seed(settings.seed + 1)
    wanted = Counter(frame_steps(steps, settings.frames))
    pictures: list[np.ndarray] = []
    history: dict[str, list[np.ndarray]] = {}
    for step in ascent(image, score, optimiser, steps, transform, transforms, regulariser):
        for _ in range(wanted[step.number]):
            pictures.append(_to_uint8(model.denormalise(step.image)))
            for name, value in step.values.items():
                history.setdefault(name, []).append(value.float().cpu().numpy())
        if step.number:
            tick(step.number)
    trace = Trace([list(frames) for frames in np.stack(pictures, axis=1)],
                  {name: np.stack(rows).astype(np.float32) for name, rows in history.items()},
                  sorted(wanted.elements()))
    view = model.card.input_size if style == "robust" else None
    return trace, measure(model, [frames[-1] for frames in trace.frames], score, view)


def _to_uint8(pixels01: torch.Tensor) -> np.ndarray:
    """NCHW [0, 1] -> uint8 NHWC, clipped."""
    return pixels01.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


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
        regulariser = norm_regulariser(kinds, [weights[kind] for kind in kinds])
        done = sum(lengths[:number])
        trace, final = visualise(model, batch[0].spec["style"], len(batch), score_for(batch), regulariser, settings,
                                 lambda step: progress.tick(done + step, total))
        for row, request in enumerate(batch):
            history = {name: values[:, row] for name, values in trace.history.items()}
            yield request, Run(trace.frames[row], history, {k: float(v[row]) for k, v in final.values.items()},
                               final.features[row], trace.frame_steps)
