"""Feature visualisation by optimisation: image parameterisations, transforms, objectives, ascent loop.

This package file stays torch-free (techniques use it while planning); the modules in it import
torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from reportgen.core.artifacts import not_keyed, request_of

STYLES = ("naive", "robust")  # pixel ascent as in the classic scripts; Fourier image + random transforms
REGULARISERS = ("none", "l1", "l2")  # terms subtracted from the score (optim/objectives.py)


@dataclass(frozen=True)
class AscentParams:
    """The settings every activation-maximisation technique shares (class models, filters).

    The naive style optimises pixels at ``height`` x ``width`` for ``steps`` steps. The robust style
    has its own canvas, steps and learning rate, because it needs different ones to converge: its
    canvas is resampled to the model's input size before every forward (the network's units expect
    objects at the scale they were trained on), and its Fourier spectrum is a different variable
    with a different sensible step.
    """

    l1_weight: float = 30.0  # lambda of lambda * mean|I|
    l2_weight: float = 30.0  # lambda of lambda * mean(I^2)
    frames: int = 20  # animation frames whatever the steps (with frames > steps, repeats merge in the animation)
    seed: int = 0
    # runs per forward, fewer where their activations would not fit (budget.batch_for)
    batch_size: int = not_keyed(18, "how many go through the model at once")
    # Seconds one model's runs may take (reportgen/core/budget.py): the step caps shrink until their
    # counted cost fits; 0: no limit
    budget_s: float = not_keyed(0.0, "the step counts it shrinks are keyed")
    # A run ends when its values' mean over the last plateau_window steps rose by at most
    # plateau_margin x their rise so far (optim.ascent.Plateau); 0: always the step cap
    plateau_window: int = 8
    plateau_margin: float = 0.05
    # naive: Adam on the input values
    steps: int = 60
    height: int = 128
    width: int = 128
    lr: float = 0.1
    # robust: Adam on a decorrelated Fourier spectrum, transformed at random before every forward
    robust_steps: int = 64
    robust_side: int = 128  # the canvas, square; resampled to the model's input size for the model
    robust_lr: float = 0.3
    decay_power: float = 1.5  # spectrum scaled by 1 / f ** decay_power
    pad: int = 12  # px of grey around the canvas before the transforms
    jitter: int = 16  # px, first random crop
    zoom: float = 0.5  # zoom drawn from [1 - zoom, 1 + zoom]
    degrees: float = 45.0  # rotation drawn from [-degrees, degrees]
    colour_shift: float = 0.3  # per-channel gain and offset drawn from [-shift, shift] (normalised units)


@dataclass(frozen=True, kw_only=True)
class AscentRun:
    """What one ascent run reads, whatever its style: its regulariser (with its own weight only),
    frames, seed and plateau. A request of a style's type holds that style's settings and no other's."""

    style: str = field(default="", init=False)  # each style's type sets its own
    regulariser: str
    l1_weight: float | None = None  # only with the l1 regulariser
    l2_weight: float | None = None  # only with the l2 regulariser
    frames: int
    seed: int
    plateau_window: int
    plateau_margin: float

    @property
    def weight(self) -> float:
        """The lambda of its regulariser (0 for none)."""
        chosen = {"l1": self.l1_weight, "l2": self.l2_weight}.get(self.regulariser)
        return 0.0 if chosen is None else chosen

    @property
    def step_cap(self) -> int:
        raise NotImplementedError

    @property
    def canvas(self) -> tuple[int, int]:
        """(height, width) of the optimised image."""
        raise NotImplementedError

    @property
    def learning_rate(self) -> float:
        raise NotImplementedError

    def pixels(self, card: Any) -> int:
        """The pixels the model sees per forward of the run."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class NaiveRun(AscentRun):
    """Adam on the pixels of a ``height`` x ``width`` canvas, at most ``steps`` steps."""

    style: str = field(default="naive", init=False)
    steps: int
    height: int
    width: int
    lr: float

    @property
    def step_cap(self) -> int:
        return self.steps

    @property
    def canvas(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def learning_rate(self) -> float:
        return self.lr

    def pixels(self, card: Any) -> int:
        return self.height * self.width


@dataclass(frozen=True, kw_only=True)
class RobustRun(AscentRun):
    """Adam on the Fourier spectrum of a square canvas, transformed at random before every forward
    and seen by the model at its input size."""

    style: str = field(default="robust", init=False)
    robust_steps: int
    robust_side: int
    robust_lr: float
    decay_power: float
    pad: int
    jitter: int
    zoom: float
    degrees: float
    colour_shift: float

    @property
    def step_cap(self) -> int:
        return self.robust_steps

    @property
    def canvas(self) -> tuple[int, int]:
        return self.robust_side, self.robust_side

    @property
    def learning_rate(self) -> float:
        return self.robust_lr

    def pixels(self, card: Any) -> int:
        return card.input_size ** 2


RUNS: dict[str, type[NaiveRun] | type[RobustRun]] = {"naive": NaiveRun, "robust": RobustRun}  # by STYLES


def run_of(params: AscentParams, regulariser: str, style: str) -> NaiveRun | RobustRun:
    """One run's request part: its style's settings and its regulariser's weight, from ``params``."""
    weights = {"l1_weight": params.l1_weight if regulariser == "l1" else None,
               "l2_weight": params.l2_weight if regulariser == "l2" else None}
    return request_of(RUNS[style], params, regulariser=regulariser, **weights)


def fitted(params: AscentParams, card: Any) -> AscentParams:
    """The naive canvas at the nearest size the model accepts (its card's probed minimum, fixed
    size or multiple); the robust canvas is resampled to the model's own input size anyway."""
    height, width = card.fit_size(params.height, params.width)
    return params if (height, width) == (params.height, params.width) else replace(params, height=height, width=width)


def sized(params: AscentParams, card: Any, styles: Sequence[str]) -> AscentParams:
    """The step caps of a plan whose runs have ``styles``, shrunk (both by one share, at least 16
    steps) until the runs' counted cost fits ``budget_s`` (reportgen/core/budget.py)."""
    from reportgen.core.budget import scaled, share

    fraction = share(params.budget_s, sum(run_gflop(run_of(params, "none", style), card) for style in styles))
    if fraction == 1.0:
        return params
    return replace(params, steps=scaled(params.steps, fraction, 16), robust_steps=scaled(params.robust_steps, fraction, 16))


def run_gflop(run: AscentRun, card: Any) -> float:
    """The counted GFLOP of one run at its step cap: a forward and the input's backward per step,
    scaled by the pixels the model sees (reportgen/core/budget.py)."""
    from reportgen.core.budget import BACKWARD

    return run.step_cap * BACKWARD * card.gflops * run.pixels(card) / card.input_size ** 2


def batch_size_for(batch_size: int, card: Any, run: AscentRun) -> int:
    """Runs like ``run`` per batch: ``batch_size``, fewer where their activations would not fit."""
    from reportgen.core.budget import BACKWARD, batch_for

    return batch_for(batch_size, BACKWARD * card.activation_mb * run.pixels(card) / card.input_size ** 2)
