"""Grouping work into batches: a helper below both techniques and the optimisation package."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence


def batched(items: Iterable[Any], size: int, key: Callable[[Any], Any] = lambda _: None) -> Iterator[list[Any]]:
    """Group items with equal ``key`` into lists of at most ``size`` (order kept within a group)."""
    groups: dict[Any, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]


def batched_by_image(requests: Sequence[Any], size: int) -> Iterator[tuple[list[Any], list[Any]]]:
    """The distinct input images of ``requests`` in batches of at most ``size`` (in order of first
    use), each with the requests that read them (in their order): one pass, so a technique's
    bookkeeping stays linear in a large folder."""
    by_image: dict[str, list[int]] = {}
    images: dict[str, Any] = {}
    for index, request in enumerate(requests):
        by_image.setdefault(request.image.pixel_hash, []).append(index)
        images.setdefault(request.image.pixel_hash, request.image)
    for chunk in batched(list(images), size):
        yield [images[h] for h in chunk], [requests[i] for i in sorted(i for h in chunk for i in by_image[h])]
