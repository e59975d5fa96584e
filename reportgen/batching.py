"""Grouping work into batches: a helper below both techniques and the optimisation package."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator


def batched(items: Iterable[Any], size: int, key: Callable[[Any], Any] = lambda _: None) -> Iterator[list[Any]]:
    """Group items with equal ``key`` into lists of at most ``size`` (order kept within a group)."""
    groups: dict[Any, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]
