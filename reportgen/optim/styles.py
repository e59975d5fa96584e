"""The two styles of activation maximisation, run side by side in one batch.

- ``naive``: the seed's method. The input values themselves are optimised with Adam, starting
  from a seeded image uniform in [140, 180] / 255, nothing else: the result is the high-frequency,
  adversarial-looking pattern the seed's GIFs show.
- ``robust``: a decorrelated Fourier parameterisation, and a random jitter / zoom / rotation
  before every forward (Olah et al., Distill 2017), which gives recognisable shapes.

Each style draws its start from its own generator seeded with ``seed`` (all images of a style
start alike), and the robust transforms from one seeded with ``seed + 1``: an image's frames do
not depend on which other runs share its batch.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from reportgen.optim import STYLES
from reportgen.optim.ascent import Group, Trace, ascend
from reportgen.optim.objectives import Penalty, Score, norm_penalty
from reportgen.optim.parameterisation import FourierImage, PixelImage
from reportgen.optim.transforms import RandomAffine
from reportgen.techniques.base import Result

SEED_START = (140 / 255, 180 / 255)
ROBUST_TRANSFORM = RandomAffine()


def groups_for(styles: Sequence[str], model: Any, height: int, width: int, lr: float, robust_lr: float,
               seed: int) -> list[Group]:
    """One group per run of equal styles, in batch order."""
    groups = []
    for style, run in itertools.groupby(styles):
        count = len(list(run))
        generator = torch.Generator().manual_seed(seed)
        if style == "naive":
            low, high = SEED_START
            start = low + (high - low) * torch.rand((1, 3, height, width), generator=generator)
            start = model.normalise(start.to(model.device)).expand(count, -1, -1, -1)
            groups.append(Group(PixelImage(start), lr))
        elif style == "robust":
            image = FourierImage(count, height, width, model.normalise, generator, model.device)
            groups.append(Group(image, robust_lr, ROBUST_TRANSFORM))
        else:
            raise ValueError(f"unknown style {style!r}; valid: {', '.join(STYLES)}")
    return groups


def visualise(model: Any, styles: Sequence[str], score: Score, penalty: Penalty, settings: Any,
              tick: Callable[[int], None] = lambda step: None) -> tuple[Trace, dict[str, np.ndarray]]:
    """Run the ascent for a batch (image i in style ``styles[i]``), then measure the final frames
    as the model sees them (uint8, clipped, untransformed): that is what the gallery shows.

    ``settings`` has the fields steps, frames, height, width, lr, robust_lr and seed (a Params).
    """
    groups = groups_for(styles, model, settings.height, settings.width, settings.lr, settings.robust_lr,
                        settings.seed)
    transforms = torch.Generator().manual_seed(settings.seed + 1)
    trace = ascend(groups, score, penalty, settings.steps, settings.frames,
                   model.denormalise, transforms, tick)
    final = measure(model, [frames[-1] for frames in trace.frames], score)
    return trace, final


def measure(model: Any, pictures: Sequence[np.ndarray], score: Score) -> dict[str, np.ndarray]:
    """The score's values for uint8 pictures at their own size."""
    pixels = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float().div(255).to(model.device)
    with torch.inference_mode():
        values = score(model.normalise(pixels))
    return {name: value.float().cpu().numpy() for name, value in values.items()}


@dataclass
class Run:
    """One image's optimisation: its frames, the values at each frame, the values of its result."""

    frames: list[np.ndarray]
    history: dict[str, np.ndarray]
    final: dict[str, float]
    frame_steps: list[int]

    def result(self, meta: dict[str, Any]) -> Result:
        return Result(arrays=dict(self.history), images={"final": self.frames[-1]},
                      animations={"gif": self.frames}, meta={**meta, "frame_steps": self.frame_steps})


def run_requests(model: Any, requests: Sequence[Any], settings: Any, score_for: Callable[[list], Score],
                 progress: Any) -> Iterator[tuple[Any, Run]]:
    """Run requests (``spec`` with "style" and "regulariser") in batches of ``settings.batch_size``,
    styles kept together; ``score_for(batch)`` builds the batch's score. Yields each request's Run.

    ``settings`` also has l1_weight and l2_weight (the penalties' lambdas).
    """
    ordered = sorted(requests, key=lambda request: STYLES.index(request.spec["style"]))
    size = settings.batch_size
    batches = [ordered[start : start + size] for start in range(0, len(ordered), size)]
    total = len(batches) * settings.steps
    weights = {"none": 0.0, "l1": settings.l1_weight, "l2": settings.l2_weight}
    for number, batch in enumerate(batches):
        kinds = [request.spec["regulariser"] for request in batch]
        penalty = norm_penalty(kinds, [weights[kind] for kind in kinds])
        trace, final = visualise(model, [request.spec["style"] for request in batch], score_for(batch), penalty,
                                 settings, lambda step: progress.tick(number * settings.steps + step, total))
        for row, request in enumerate(batch):
            history = {name: values[:, row] for name, values in trace.history.items()}
            yield request, Run(trace.frames[row], history, {k: float(v[row]) for k, v in final.items()},
                               trace.frame_steps)
