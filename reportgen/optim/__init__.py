"""Feature visualisation by optimisation: image parameterisations, transforms, objectives, ascent loop.

This package file stays torch-free (techniques use it while planning); the modules in it import
torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from reportgen.artifacts import not_keyed

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
    frames: int = 20  # GIF frames whatever the steps (with frames > steps, repeats merge in the GIF)
    seed: int = 0
    # runs per forward, fewer where their activations would not fit (budget.batch_for)
    batch_size: int = not_keyed(18, "how many go through the model at once")
    # Seconds one model's runs may take (reportgen/budget.py): the step caps shrink until their
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


NAIVE_ONLY = ("steps", "height", "width", "lr")
ROBUST_ONLY = ("robust_steps", "robust_side", "robust_lr", "decay_power", "pad", "jitter", "zoom", "degrees",
               "colour_shift")


def style_spec(params: AscentParams, regulariser: str, style: str) -> dict[str, Any]:
    """The spec changes for one run: its regulariser and style, the chosen regulariser's lambda only, and
    only the fields its style reads (None drops a field from the spec, hence from the cache key)."""
    unread = ROBUST_ONLY if style == "naive" else NAIVE_ONLY
    return {
        "regulariser": regulariser, "style": style,
        "l1_weight": params.l1_weight if regulariser == "l1" else None,
        "l2_weight": params.l2_weight if regulariser == "l2" else None,
        **dict.fromkeys(unread),
    }


def fitted(params: AscentParams, card: Any) -> AscentParams:
    """The naive canvas at the nearest size the model accepts (its card's probed minimum, fixed
    size or multiple); the robust canvas is resampled to the model's own input size anyway."""
    height, width = card.fit_size(params.height, params.width)
    return params if (height, width) == (params.height, params.width) else replace(params, height=height, width=width)


def sized(params: AscentParams, card: Any, styles: Sequence[str]) -> AscentParams:
    """The step caps of a plan whose runs have ``styles``, shrunk (both by one share, at least 16
    steps) until the runs' counted cost fits ``budget_s`` (reportgen/budget.py)."""
    from reportgen.budget import BACKWARD, scaled, share

    full = card.input_size ** 2
    gflop = sum(style_settings(params, style)[0] * BACKWARD * card.gflops * _pixels(params, style, card) / full
                for style in styles)
    fraction = share(params.budget_s, gflop)
    if fraction == 1.0:
        return params
    return replace(params, steps=scaled(params.steps, fraction, 16), robust_steps=scaled(params.robust_steps, fraction, 16))


def batch_size_for(params: AscentParams, card: Any, style: str) -> int:
    """Runs of ``style`` per batch: ``batch_size``, fewer where their activations would not fit."""
    from reportgen.budget import BACKWARD, batch_for

    return batch_for(params.batch_size, BACKWARD * card.activation_mb * _pixels(params, style, card) / card.input_size ** 2)


def _pixels(params: AscentParams, style: str, card: Any) -> int:
    """The pixels the model sees per forward of a run: the naive canvas, or the robust view."""
    return params.height * params.width if style == "naive" else card.input_size ** 2


def planned(params: AscentParams, specs: Sequence[Mapping[str, Any]]) -> AscentParams:
    """``params`` with the step caps its plan chose (``sized``), read back from the requests' specs,
    so that computing some of a plan's runs gives them the caps the whole plan had."""
    caps = {name: spec[name] for spec in specs for name in ("steps", "robust_steps") if spec.get(name) is not None}
    return replace(params, **caps)


def style_settings(params: AscentParams, style: str) -> tuple[int, int, int, float]:
    """(steps, height, width, learning rate) of a style."""
    if style == "naive":
        return params.steps, params.height, params.width, params.lr
    return params.robust_steps, params.robust_side, params.robust_side, params.robust_lr
