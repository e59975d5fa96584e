"""The ascent loop, in the shape of lucent's ``render_vis``: a parameterisation, a transform, a
score (minus a regulariser) and an optimiser, wired by one short loop that yields every step.

Class models and filter visualisations run it with Adam on a pixel or Fourier image and the
robust transform stack (optim/styles.py); Deep Dream with a photo, a random roll and its
smoothed, normalised step (techniques/deep_dream.py), once per octave.

The loss is minus the sum of the per-image objectives, so each image follows its own gradient:
the optimisers' updates are element-wise or per image, and no image's loss touches another's
pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from reportgen.optim.objectives import Regulariser, Score
from reportgen.optim.parameterisation import Parameterisation

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class Step:
    """What one forward of the loop saw."""

    number: int  # updates made before this forward (0: the start image)
    image: torch.Tensor  # the untransformed model input, detached; a pixel image's own values, so copy to keep
    values: dict[str, torch.Tensor]  # "objective" (score - regulariser) and the score's entries, per image


def ascent(image: Parameterisation, score: Score, optimiser: torch.optim.Optimizer, steps: int,
           transform: Transform | None = None, generator: torch.Generator | None = None,
           regulariser: Regulariser | None = None, measure_result: bool = True) -> Iterator[Step]:
    """Maximise ``score - regulariser`` over ``image`` by ``steps`` updates of ``optimiser`` (built
    on ``image.parameters()``). The score sees the image transformed, with a fresh draw from
    ``generator`` every forward; the regulariser sees it untransformed. Yields each forward's Step
    before that forward's update; with ``measure_result`` a last forward measures the final image
    (``steps + 1`` Steps, else ``steps``). After every update the image is constrained."""
    for number in range(steps + 1 if measure_result else steps):
        clean = image()
        values = score(transform(clean, generator) if transform else clean)
        objective = values["score"] - regulariser(clean) if regulariser else values["score"]
        yield Step(number, clean.detach(), {"objective": objective.detach(),
                                            **{name: value.detach() for name, value in values.items()}})
        if number < steps:
            optimiser.zero_grad(set_to_none=True)
            (-objective.sum()).backward()
            optimiser.step()
            image.constrain()


def frame_steps(steps: int, frames: int) -> list[int]:
    """``frames`` steps spread evenly up to the last (a frame every steps/frames steps).
    With more frames than steps some steps repeat, so the frame count never changes."""
    if steps < 1 or frames < 1:
        raise ValueError("steps and frames must be at least 1")
    return [round((index + 1) * steps / frames) for index in range(frames)]
