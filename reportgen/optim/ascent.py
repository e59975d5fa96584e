"""The ascent loop: Adam on the parameterisations, recording a fixed number of frames.

Every step runs one forward of the whole batch (each group's images, transformed when the group
says so), and the loss is the sum of the per-image objectives, so each image follows its own
gradient: Adam's updates are element-wise, and no image's loss touches another's pixels.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from reportgen.optim.objectives import Penalty, Score

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class Group:
    """Consecutive images of a batch that share a parameterisation, learning rate and transform."""

    image: Any  # PixelImage or FourierImage: ``parameters()`` and ``()`` -> normalised NCHW
    lr: float
    transform: Transform | None = None


@dataclass
class Trace:
    frames: list[list[np.ndarray]]  # per image: uint8 HxWx3 frames, the last one the result
    history: dict[str, np.ndarray]  # "objective", "score" and the score's extras: (frames, images)
    frame_steps: list[int]  # the step each frame shows (0 = the start image)


def frame_steps(steps: int, frames: int) -> list[int]:
    """``frames`` steps spread evenly up to the last (a frame every steps/frames steps).
    With more frames than steps some steps repeat, so the frame count never changes."""
    if steps < 1 or frames < 1:
        raise ValueError("steps and frames must be at least 1")
    return [round((index + 1) * steps / frames) for index in range(frames)]


def adam_ascent(groups: list[Group], score: Score, penalty: Penalty, steps: int, frames: int,
           to_pixels: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator,
           tick: Callable[[int], None] = lambda step: None) -> Trace:
    """Maximise ``score - penalty`` for ``steps`` Adam steps; ``to_pixels`` maps model inputs to
    [0, 1] RGB for the frames. Step s's frame shows the image after s updates, with the objective
    that very image got (robust groups: as transformed for that step)."""
    optimiser = torch.optim.Adam([{"params": g.image.parameters(), "lr": g.lr} for g in groups])
    wanted = Counter(frame_steps(steps, frames))
    pictures: list[np.ndarray] = []
    history: dict[str, list[np.ndarray]] = {}
    for step in range(steps + 1):
        images = [group.image() for group in groups]
        seen = [g.transform(x, generator) if g.transform else x for g, x in zip(groups, images)]
        clean = torch.cat(images)
        values = score(torch.cat(seen))
        objective = values["score"] - penalty(clean)
        for _ in range(wanted[step]):
            pictures.append(_to_uint8(to_pixels(clean.detach())))
            for name, value in {"objective": objective, **values}.items():
                history.setdefault(name, []).append(value.detach().float().cpu().numpy())
        if step == steps:
            break
        optimiser.zero_grad(set_to_none=True)
        (-objective.sum()).backward()
        optimiser.step()
        tick(step + 1)
    per_image = [list(frames_of_image) for frames_of_image in np.stack(pictures, axis=1)]
    return Trace(per_image, {name: np.stack(rows).astype(np.float32) for name, rows in history.items()},
                 sorted(wanted.elements()))


def _to_uint8(pixels01: torch.Tensor) -> np.ndarray:
    """NCHW [0, 1] -> uint8 NHWC, clipped."""
    return pixels01.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
