"""Work sized to the model. A preset states, per technique, the seconds one model's work may take
(``budget_s``); the technique's plan shrinks its own knobs (step caps, a dream's working size)
until its cost fits, and fits its batches to memory (``batch_for``). A small network runs the
preset as written; a VGG16, 40 times its cost per image, gets the same budget, not 40 times it.

Costs are counted, not timed: a model's card holds its forward GFLOP and activation megabytes at
its input size (models/probe.py ``forward_cost``). A plan made from a timing would change with
the machine and its load, and the pictures and cache keys with it; a count is the same wherever
the build runs. Seconds become GFLOP at ``RATE_GFLOPS``, the rate reportgen's gradient loops
reach on two cores of a current x86 CPU (benchmarks/README.md). Torch-free: plans use it.
"""
from __future__ import annotations

import math

RATE_GFLOPS = 100.0  # GFLOP per second of budget
BACKWARD = 2.0  # a forward and the input's backward (weights frozen: no weight gradients) count about two forwards
BATCH_MB = 1024.0  # activations one batch may keep for its backward
# Activations (every layer's, summed) of one batch of forwards without gradients: such batches run
# fastest per image on a CPU about here, as they stay in its caches, and a VGG16's large batches
# held most of a build's peak memory (benchmarks/README.md, "Whole commands").
FORWARD_MB = 640.0
SMALLEST_SHARE = 0.25  # no knob shrinks below this share of the preset's value


def share(budget_s: float, gflop: float) -> float:
    """The share of the preset's work that fits ``budget_s`` seconds: 1 when all of it does (or the
    budget is 0: no limit, or the cost is unknown), never below ``SMALLEST_SHARE``."""
    if budget_s <= 0 or gflop <= 0:
        return 1.0
    return max(SMALLEST_SHARE, min(1.0, budget_s * RATE_GFLOPS / gflop))


def scaled(value: int, fraction: float, least: int = 1) -> int:
    """``value`` times ``fraction``, rounded up, at least ``least`` (or ``value`` if smaller)."""
    return max(min(value, least), math.ceil(value * fraction))


def batch_for(wanted: int, mb_per_item: float, limit_mb: float = BATCH_MB) -> int:
    """At most ``wanted`` items per batch, fewer where their activations would pass ``limit_mb``."""
    if mb_per_item <= 0:
        return wanted
    return max(1, min(wanted, int(limit_mb // mb_per_item)))


def frames_per_forward(wanted: int, card) -> int:
    """Pictures per forward without gradients: at most ``wanted``, fewer where the model's
    activations for them would pass ``FORWARD_MB``."""
    return batch_for(wanted, card.activation_mb, FORWARD_MB)
