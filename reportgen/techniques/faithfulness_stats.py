"""The faithfulness page's statistics: 95 % bootstrap intervals over images, and ranks that separate
two methods only where a paired bootstrap over the same images does. Numpy only (the site imports it).

Every comparison of one metric draws the same resamples of the images (seeded), so that the methods
are compared image by image (paired) and the page is the same at every rebuild.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0
INDICATIVE_BELOW = 10  # fewer images: the page calls its ranking indicative only


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Column:
    """One metric's scores, methods x images (NaN where a method has none on an image)."""

    table: np.ndarray
    higher_better: bool
    seed: int = SEED

    @functools.cached_property
    def scores(self) -> np.ndarray:
        """The scores on the images where every method has one: what the paired comparisons read."""
        return self.table[:, ~np.isnan(self.table).any(axis=0)]

    @property
    def images(self) -> int:
        return self.scores.shape[1]

    def interval(self, values: np.ndarray) -> Interval:
        """The 95 % percentile-bootstrap interval of the mean of ``values`` (one per image)."""
        low, high = _percentiles(values[_draws(len(values), self.seed)].mean(axis=1))
        return Interval(float(low), float(high))

    def intervals(self) -> list[Interval | None]:
        """Each method's interval over the images where it has a score: those its mean is over."""
        return [self.interval(row[~np.isnan(row)]) if not np.isnan(row).all() else None for row in self.table]

    def beats(self, better: int, worse: int) -> bool:
        """Whether method ``better`` is ahead of ``worse``: the 95 % interval of their mean difference,
        paired over images, lies wholly on ``better``'s side of zero; never on one image."""
        if self.images < 2:
            return False
        difference = self.scores[better] - self.scores[worse]
        if not self.higher_better:
            difference = -difference
        low, _ = _percentiles(difference[_draws(self.images, self.seed)].mean(axis=1))
        return bool(low > 0)

    def ranks(self) -> list[int]:
        """Each method's rank: one more than the longest chain of methods, each ahead of the next,
        that ends ahead of it. Methods within noise of each other (neither ahead) share a rank
        unless a third separates them; one ahead of another always ranks above it."""
        count = len(self.scores)
        ahead = [[self.beats(other, method) for other in range(count)] for method in range(count)]

        @functools.lru_cache(maxsize=None)
        def rank(method: int) -> int:
            # "ahead of" is acyclic: on every resample the paired differences around a cycle sum to zero.
            return 1 + max((rank(other) for other in range(count) if ahead[method][other]), default=0)

        return [rank(method) for method in range(count)]


@functools.lru_cache(maxsize=None)
def _draws(images: int, seed: int) -> np.ndarray:
    """RESAMPLES x images indices drawn with replacement: the same for every method of a column
    (paired) and at every rebuild."""
    return np.random.default_rng(seed).integers(0, images, size=(RESAMPLES, images))


def _percentiles(means: np.ndarray) -> np.ndarray:
    tail = (1 - CONFIDENCE) / 2 * 100
    return np.percentile(means, [tail, 100 - tail])


def column(per_image: Sequence[Sequence[float | None]], higher_better: bool, seed: int = SEED) -> Column:
    """A metric's column from each method's per-image scores (None: not defined on that image)."""
    table = np.array([[np.nan if v is None else v for v in row] for row in per_image], dtype=np.float64)
    if table.ndim != 2:
        table = table.reshape(len(per_image), 0)
    return Column(table, higher_better, seed)
