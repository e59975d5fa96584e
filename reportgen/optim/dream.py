"""Deep Dream's pyramid: the octaves, coarse to fine, each one run of the ascent loop
(``optim.ascent``) on a photo, with the detail dreamed so far carried up to the next octave.
``techniques/deep_dream.py`` plans the dreams and sizes them; this runs one (``schedule``: a
``deep_dream.Schedule``)."""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from reportgen.optim.ascent import ascent
from reportgen.optim.parameterisation import PhotoImage
from reportgen.optim.transforms import Roll


def dream_pyramid(model, base01, score, schedule, tick):
    """The octaves, coarse to fine, each one run of the ascent loop on a photo, rolled before every
    step; the detail dreamed so far is carried up to the next. ``base01``: NCHW in [0, 1] at the
    working size. Returns the dreamed image (normalised), the image after each octave, and the
    objective before every step (steps x N)."""
    valid = valid_range(model, base01.device)
    roll = Roll(schedule.jitter)
    generator = torch.Generator().manual_seed(schedule.seed)
    frames, trace = [], []
    dreamed = detail = None
    for octave_size in schedule.sizes:
        octave_base, image = octave_start(model, base01, octave_size, detail, valid)
        optimiser = schedule.optimiser(image.parameters())
        for step in ascent(image, score, optimiser, schedule.steps, roll, generator, measure_result=False):
            trace.append(step.values["objective"].cpu().numpy())
            tick(1)
        dreamed = image().detach()
        detail = dreamed - octave_base
        frames.append(dreamed)
    return dreamed, frames, np.stack(trace)


def valid_range(model, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised values of black and white: dreamed pixels stay between them."""
    return (model.normalise(torch.zeros(1, 3, 1, 1, device=device)),
            model.normalise(torch.ones(1, 3, 1, 1, device=device)))


def octave_start(model, base01, size, detail, valid):
    """An octave's normalised base image, and the photo it dreams on: the base plus the detail
    carried up from the coarser octave, kept within ``valid`` (black, white)."""
    octave_base = model.normalise(resized(base01, size))
    if detail is None:
        detail = torch.zeros_like(octave_base)
    elif detail.shape[-2:] != octave_base.shape[-2:]:
        detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
    return octave_base, PhotoImage(octave_base + detail, *valid)


def resized(batch, size: tuple[int, int]):
    """``batch`` (NCHW) at ``size``: bilinear and antialiased, untouched at its own size."""
    if tuple(batch.shape[-2:]) == tuple(size):
        return batch
    return F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
