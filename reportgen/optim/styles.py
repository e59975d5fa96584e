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

from reportgen.optim import STYLES, AscentRun, NaiveRun, RobustRun, batch_size_for
from reportgen.optim.ascent import Narrow, Plateau, ascent, frame_steps
from reportgen.optim.objectives import Regulariser, Score, norm_regulariser
from reportgen.optim.parameterisation import FourierImage, Parameterisation, PixelImage
from reportgen.optim.transforms import TransformStack
from reportgen.core.artifacts import Result
from reportgen.core.batching import batched
from reportgen.core.meta import Meta
from reportgen.core.ascent_meta import AscentRoles

START_RANGE = (140 / 255, 180 / 255)  # the naive style's start: uniform grey-ish noise


def robust_transform(model: Any, settings: RobustRun) -> TransformStack:
    """The robust style's transforms, ending at the model's input size, padded with mid-grey."""
    grey = model.normalise(torch.full((1, 3, 1, 1), 0.5, device=model.device))[0, :, 0, 0].tolist()
    return TransformStack(pad=settings.pad, jitter=settings.jitter, scale=(1 - settings.zoom, 1 + settings.zoom),
                          degrees=settings.degrees, view=model.card.input_size, colour=settings.colour_shift,
                          fill=tuple(grey))


def start_for(count: int, model: Any, settings: AscentRun) -> tuple[Parameterisation, TransformStack | None]:
    """The parameterisation and transform of ``count`` images of one style."""
    height, width = settings.canvas
    generator = torch.Generator().manual_seed(settings.seed)
    if isinstance(settings, NaiveRun):
        low, high = START_RANGE
        start = low + (high - low) * torch.rand((1, 3, height, width), generator=generator)
        start = model.normalise(start.to(model.device)).expand(count, -1, -1, -1)
        return PixelImage(start), None
    if isinstance(settings, RobustRun):
        image = FourierImage(count, height, width, model.normalise, generator, model.device,
                             decay_power=settings.decay_power)
        return image, robust_transform(model, settings)
    raise ValueError(f"unknown style {settings.style!r}; valid: {', '.join(STYLES)}")


@dataclass
class Trace:
    """One image's optimisation as recorded at its frame steps."""

    frames: list[np.ndarray]  # uint8 HxWx3 frames, the last one the result
    history: dict[str, np.ndarray]  # "objective", "score" and the score's extras, one value per frame
    frame_steps: list[int]  # the step each frame shows (0 = the start image)
    steps: int  # the updates it took: the step cap, or fewer where its values plateaued


@dataclass
class Measured:
    """A batch's final pictures as the model sees them: the score's values, and its features."""

    values: dict[str, np.ndarray]  # name -> (images,)
    features: np.ndarray  # (images, features)


def visualise(model: Any, count: int, score: Score, regulariser: Regulariser, settings: AscentRun,
              tick: Callable[[int], None] = lambda step: None, stop: Plateau | None = None,
              narrow: Narrow | None = None) -> tuple[list[Trace], Measured]:
    """Run Adam on a batch of ``count`` images of one style (``settings``: the settings its runs
    share), recording up to ``settings.frames`` frames each: step s's frame shows the image after s updates, with the values that very image
    got (robust: as transformed for that step); an image that plateaus (``stop``) leaves the batch
    with its last image as its last frame, so its animation is as long as its optimisation. Then
    measure the final frames as the model sees them (uint8, clipped, untransformed; the robust
    canvas resized to the model's input size, as the model saw it during the ascent): that is
    what the gallery shows."""
    image, transform = start_for(count, model, settings)
    steps = settings.step_cap
    optimiser = torch.optim.Adam(image.parameters(), lr=settings.learning_rate)
    transforms = torch.Generator().manual_seed(settings.seed + 1)
    wanted = Counter(frame_steps(steps, settings.frames))
    traces = [Trace([], {}, [], steps) for _ in range(count)]
    histories: list[dict[str, list[float]]] = [{} for _ in range(count)]  # per image: name -> value per frame
    for step in ascent(image, score, optimiser, steps, transform, transforms, regulariser, stop=stop, narrow=narrow):
        copies = [wanted[step.number] or int(final) for final in step.final]
        if any(copies):
            pictures = _to_uint8(model.denormalise(step.image))
            for position, row in enumerate(step.rows):
                trace = traces[row]
                trace.frames += [pictures[position]] * copies[position]
                trace.frame_steps += [step.number] * copies[position]
                for name, value in step.values.items():
                    histories[row].setdefault(name, []).extend([float(value[position])] * copies[position])
        for position, row in enumerate(step.rows):
            if step.final[position]:
                traces[row].steps = step.number
        if step.number:
            tick(step.number)
    for trace, history in zip(traces, histories):
        trace.history = {name: np.asarray(values, dtype=np.float32) for name, values in history.items()}
    view = model.card.input_size if isinstance(settings, RobustRun) else None
    return traces, measure(model, [trace.frames[-1] for trace in traces], score, view)


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
    """One image's optimisation: its frames and values (``Trace``), the values of its result."""

    trace: Trace
    final: dict[str, float]
    features: np.ndarray  # the model's features of the final frame (LoadedModel.features)

    def result(self, meta: Meta) -> Result:
        trace = self.trace
        return Result(arrays={**trace.history, AscentRoles.FEATURES: self.features},
                      images={AscentRoles.FINAL: trace.frames[-1]}, animations={AscentRoles.GIF: trace.frames}, meta=meta)


def run_requests(model: Any, requests: Sequence[Any], batch_size: int, score_for: Callable[[list], Score],
                 progress: Any, tracked: tuple[str, ...] = ("objective",),
                 regulariser_for: Callable[[list], Regulariser] | None = None) -> Iterator[tuple[Any, Run]]:
    """Run requests (whose ``args.run`` is an ``AscentRun``: the plan gives every run of a style the same
    settings but its regulariser) in batches of one style, at most ``batch_size`` or fewer where
    their activations would not fit (``batch_size_for``); ``score_for(batch)`` builds the batch's
    score, ``regulariser_for(batch)`` its regulariser (default: the runs' own, ``norm_regulariser``).
    A run ends when its ``tracked`` values plateau (``plateau_window``, ``plateau_margin``)
    or at its style's step cap. Yields each request's Run."""
    batches: list[list[Any]] = []
    for style in STYLES:
        mine = [r for r in requests if r.args.run.style == style]
        if mine:
            batches += batched(mine, batch_size_for(batch_size, model.card, mine[0].args.run))
    lengths = [batch[0].args.run.step_cap for batch in batches]
    total = sum(lengths)

    def runs_regulariser(batch: list) -> Regulariser:
        runs = [request.args.run for request in batch]
        return norm_regulariser([run.regulariser for run in runs], [run.weight for run in runs])

    regulariser_for = regulariser_for or runs_regulariser

    for number, batch in enumerate(batches):
        done = sum(lengths[:number])
        settings = batch[0].args.run
        stop = Plateau(settings.plateau_window, settings.plateau_margin, tracked)

        def narrow(rows: list[int], batch: list = batch) -> tuple[Score, Regulariser]:
            members = [batch[row] for row in rows]
            return score_for(members), regulariser_for(members)

        traces, final = visualise(model, len(batch), score_for(batch), regulariser_for(batch), settings,
                                  lambda step: progress.tick(done + step, total), stop, narrow)
        for row, request in enumerate(batch):
            yield request, Run(traces[row], {k: float(v[row]) for k, v in final.values.items()}, final.features[row])
