"""The faithfulness page's statistics on hand-made score tables: intervals, paired comparisons,
shared ranks, and what the page says about them."""
from __future__ import annotations

import numpy as np

from reportgen.techniques import faithfulness_stats as stats


def noisy(mean: float, images: int, seed: int, spread: float = 0.05) -> list[float]:
    return list(mean + spread * np.random.default_rng(seed).standard_normal(images))


def test_each_interval_contains_its_mean_and_is_the_same_with_the_same_seed():
    rows = [noisy(0.5, 12, 1), noisy(0.3, 12, 2, spread=0.2), [0.75] * 12]
    column = stats.column(rows, higher_better=True)
    for row, interval in zip(rows, column.intervals()):
        assert interval.low <= np.mean(row) <= interval.high
    assert column.intervals()[2] == stats.Interval(0.75, 0.75)  # no spread: no width
    assert stats.column(rows, True).intervals() == column.intervals()
    assert stats.column(rows, True, seed=1).intervals() != column.intervals()
    assert column.intervals()[1].high - column.intervals()[1].low > column.intervals()[0].high - column.intervals()[0].low


def test_identical_methods_share_a_rank_and_a_clearly_better_one_ranks_above():
    base = noisy(0.4, 15, 3)
    clearly_better = [v + 0.2 for v in noisy(0.4, 15, 3)]
    within_noise = [v + s for v, s in zip(base, noisy(0.0, 15, 4, spread=0.05))]
    for higher_better in (True, False):
        rows = [base, list(base), clearly_better if higher_better else [v - 0.4 for v in clearly_better], within_noise]
        column = stats.column(rows, higher_better)
        ranks = column.ranks()
        assert ranks[0] == ranks[1]  # identical
        assert ranks[2] == 1 and ranks[0] > 1  # clearly better first
        assert ranks[3] == ranks[0]  # within noise of each other
        assert column.beats(2, 0) and not column.beats(0, 2) and not column.beats(0, 1) and not column.beats(0, 3)


def test_a_chain_of_clear_wins_gives_a_rank_each():
    rows = [noisy(mean, 20, seed, spread=0.01) for seed, mean in enumerate((0.1, 0.9, 0.5))]
    assert stats.column(rows, higher_better=True).ranks() == [3, 1, 2]
    assert stats.column(rows, higher_better=False).ranks() == [1, 3, 2]


def test_one_image_separates_nothing_and_missing_scores_are_left_out():
    assert stats.column([[0.9], [0.1]], higher_better=True).ranks() == [1, 1]
    column = stats.column([[0.9, None, 0.8, 0.85], [0.1, 0.5, 0.2, 0.15]], higher_better=True)
    assert column.images == 3 and column.beats(0, 1)


def test_each_interval_is_over_the_images_its_mean_is_over():
    """A method without a score on some images (a randomisation the saliency build did not make):
    its interval covers its own images, though the paired comparisons read only the shared ones."""
    rows = [[0.30, 0.90, 0.29, 0.31, 0.95], [0.14, None, 0.24, -0.20, None]]  # 0.55 over its five, 0.30 over three
    column = stats.column(rows, higher_better=False)
    assert column.images == 3
    for row, interval in zip(rows, column.intervals()):
        mean = np.mean([v for v in row if v is not None])
        assert interval.low <= mean <= interval.high and interval.high > interval.low
