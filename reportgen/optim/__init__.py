"""Feature visualisation by optimisation: image parameterisations, transforms, objectives, ascent loop.

This package file stays torch-free (techniques use it while planning); the modules in it import
torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

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
    batch_size: int = 18  # runs per forward
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


def style_settings(params: AscentParams, style: str) -> tuple[int, int, int, float]:
    """(steps, height, width, learning rate) of a style."""
    if style == "naive":
        return params.steps, params.height, params.width, params.lr
    return params.robust_steps, params.robust_side, params.robust_side, params.robust_lr
