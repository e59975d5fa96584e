"""The ascent loop, in the shape of lucent's ``render_vis``: a parameterisation, a transform, a
score (minus a regulariser) and an optimiser, wired by one short loop that yields every step.

Class models and filter visualisations run it with Adam on a pixel or Fourier image and the
robust transform stack (optim/styles.py); Deep Dream with a photo, a random roll and its
smoothed, normalised step (techniques/deep_dream.py), once per octave.

The loss is minus the sum of the per-image objectives, so each image follows its own gradient:
the optimisers' updates are element-wise or per image, and no image's loss touches another's
pixels. That is also what lets a batch drop the images whose objective has plateaued
(``Plateau``): the others go on exactly as they would, and the batch costs what its slowest
member needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import torch

from reportgen.optim.objectives import Regulariser, Score
from reportgen.optim.parameterisation import Parameterisation

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
# The score and regulariser of some members of the batch (indices into the batch it started with).
Narrow = Callable[[list[int]], tuple[Score, Regulariser | None]]


@dataclass(frozen=True)
class Plateau:
    """When an optimisation is done: each tracked value's mean over the last ``window`` steps rose
    by at most ``margin`` times its rise since the start, compared with the ``window`` before.
    Means over windows, because the robust style's values jump with every random transform;
    relative to the rise so far, because scores differ in scale by orders of magnitude. Judged
    from ``2 * window`` steps on (``window`` 0: never; the step cap ends the run)."""

    window: int
    margin: float
    tracked: tuple[str, ...] = ("objective",)

    def reached(self, series: Mapping[str, Sequence[float]]) -> bool:
        """Whether the values one image got at each forward so far (name -> values) have plateaued."""
        if self.window < 1:
            return False
        for name in self.tracked:
            values = series[name]
            if len(values) < 2 * self.window + 1:
                return False
            recent = sum(values[-self.window:]) / self.window
            before = sum(values[-2 * self.window:-self.window]) / self.window
            if recent - before > self.margin * max(recent - values[0], 0.0):
                return False
        return True


@dataclass
class Step:
    """What one forward of the loop saw."""

    number: int  # updates made before this forward (0: the start image)
    image: torch.Tensor  # the untransformed model input of the members in ``rows``, detached; copy to keep
    values: dict[str, torch.Tensor]  # "objective" (score - regulariser) and the score's entries, per member
    rows: list[int]  # the members of this forward: indices into the batch the loop started with
    final: list[bool]  # per member: this forward measured its last image (plateau or step cap)


def ascent(image: Parameterisation, score: Score, optimiser: torch.optim.Optimizer, steps: int,
           transform: Transform | None = None, generator: torch.Generator | None = None,
           regulariser: Regulariser | None = None, measure_result: bool = True,
           stop: Plateau | None = None, narrow: Narrow | None = None) -> Iterator[Step]:
    """Maximise ``score - regulariser`` over ``image`` by at most ``steps`` updates of
    ``optimiser`` (built on ``image.parameters()``). The score sees the image transformed, with a
    fresh draw from ``generator`` every forward; the regulariser sees it untransformed. Yields
    each forward's Step before that forward's update; with ``measure_result`` a last forward
    measures the final image (``steps + 1`` forwards, else ``steps``). After every update the
    image is constrained.

    With ``stop``, a member whose values have plateaued is final at that forward and leaves the
    batch: its objective is left out of that forward's backward, then the parameterisation's rows
    and the optimiser's state are narrowed to the others, and ``narrow`` gives their score and
    regulariser."""
    if transform is not None and generator is None:
        raise ValueError("a transform draws from a generator: pass one")
    rows = list(range(image().shape[0]))
    series: dict[int, dict[str, list[float]]] = {row: {} for row in rows}
    for number in range(steps + 1 if measure_result else steps):
        clean = image()
        values = score(transform(clean, generator) if transform is not None and generator is not None else clean)
        objective = values["score"] - regulariser(clean) if regulariser else values["score"]
        values = {"objective": objective.detach(), **{name: value.detach() for name, value in values.items()}}
        capped = number == steps
        final = [capped or _plateaued(stop, series[row], values, position) for position, row in enumerate(rows)]
        yield Step(number, clean.detach(), values, list(rows), final)
        if capped or all(final):
            return
        keep = [position for position, done in enumerate(final) if not done]
        optimiser.zero_grad(set_to_none=True)
        (-(objective if len(keep) == len(rows) else objective[keep]).sum()).backward()
        optimiser.step()
        image.constrain()
        if len(keep) < len(rows):
            if narrow is None:
                raise ValueError("members leave the batch when they plateau (stop): pass narrow to score the rest")
            rows = [rows[position] for position in keep]
            old = image.parameters()
            image.narrow(keep)
            narrow_optimiser(optimiser, old, image.parameters(), keep)
            score, regulariser = narrow(rows)


def _plateaued(stop: Plateau | None, series: dict[str, list[float]], values: dict[str, torch.Tensor],
               position: int) -> bool:
    """Record a member's values of this forward; whether they have plateaued."""
    if stop is None:
        return False
    for name in stop.tracked:
        series.setdefault(name, []).append(float(values[name][position]))
    return stop.reached(series)


def narrow_optimiser(optimiser: torch.optim.Optimizer, old: Sequence[torch.Tensor], new: Sequence[torch.Tensor],
                     keep: list[int]) -> None:
    """Move an optimiser from parameters ``old`` to ``new`` (their rows ``keep``): its state
    follows, per-image entries narrowed the same way, scalars (Adam's step count) as they are."""
    replaced = {id(tensor): (tensor, narrowed) for tensor, narrowed in zip(old, new)}
    for group in optimiser.param_groups:
        group["params"] = [replaced[id(tensor)][1] if id(tensor) in replaced else tensor for tensor in group["params"]]
    for tensor, narrowed in replaced.values():
        state = optimiser.state.pop(tensor, None)
        if state is not None:
            optimiser.state[narrowed] = {
                name: value[keep] if torch.is_tensor(value) and value.dim() and value.shape[0] == tensor.shape[0] else value
                for name, value in state.items()}


def frame_steps(steps: int, frames: int) -> list[int]:
    """``frames`` steps spread evenly up to the last (a frame every steps/frames steps).
    With more frames than steps some steps repeat, so the frame count never changes."""
    if steps < 1 or frames < 1:
        raise ValueError("steps and frames must be at least 1")
    return [round((index + 1) * steps / frames) for index in range(frames)]
