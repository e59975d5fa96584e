"""A unit's dataset examples: the image patches where one unit (a channel of a layer) responds
most, mined in one streaming pass over a collection of images.

The rule, as OpenAI Microscope shows a unit's examples: every position of the unit's activation map
on every image (the image resized whole to the model's input size), strongest first, at most one
per neighbourhood of a patch within an image. Because that neighbourhood rule only ever compares
positions of the same image, it splits by image: the greedy pick over all maps equals the strongest
``k`` of each image's own greedy picks. So a pass needs, per unit, only a running top ``k``: each
batch of images goes through the network once (stopped at the deepest layer asked for), each map
keeps its own best peaks, and those that beat the running ``k`` replace them. After the pass the
images that won are read once more, one at a time, for their patches. What a pass holds is one
batch of images and their maps, and ``k`` peaks (then patches) per unit, whatever the collection's
size.

A folder of examples (``--examples DIR``) is named in the cache key by ``ExampleFolder.digest``: a
hash over every file's name and content. Content, because that is what is mined; names, because
the gallery names each example's source image. Sizes and times are not content (a copy changes the
times, not the pictures). Links that leave the folder are not followed (each is named when the
folder is mined). Pages and the manifest name the folder by its name only (``public_overrides``),
never by where it lies on the builder's disk.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from reportgen.pictures import render
from reportgen.core.choices import ParamError
from reportgen.core.digests import file_sha256
from reportgen.pictures.images import InputImage, Skipped, discover, load_image

MINING_BATCH = 16  # images per forward of a mining pass: what a pass holds at once
PATCH_TILE = 64  # px, the side each example patch is shown at

Unit = tuple[str, int]  # (layer, filter)


class ExamplesError(ParamError):
    """An examples folder that cannot serve (missing, or without a usable image)."""


@dataclass(frozen=True)
class ExampleFolder:
    """A folder of example images as the cache sees it: its files (relative name, path) in the
    order they are mined, and a digest of their names and contents; ``links``: the links skipped."""

    root: Path
    files: tuple[tuple[str, Path], ...]
    digest: str
    links: tuple[Skipped, ...] = ()

    def reload(self, name: str) -> InputImage:
        """One image again (its patches are cut after the pass), as the pass read it."""
        loaded = load_image(self.root / name, name)
        if isinstance(loaded, Skipped):
            raise ExamplesError(f"examples folder {self.root}: {name} changed during the build ({loaded.reason}); "
                                "build again")
        return loaded

    def images(self, on_skip: Callable[[Skipped], None]) -> Iterator[InputImage]:
        """Each usable image, decoded only when asked for; an unreadable file or one with the same
        pixels as an earlier one goes to ``on_skip`` (images.load_image's reasons), as does each
        link skipped."""
        for link in self.links:
            on_skip(link)
        seen: dict[str, str] = {}
        for name, path in self.files:
            loaded = load_image(path, name)
            if isinstance(loaded, Skipped):
                on_skip(loaded)
            elif loaded.pixel_hash in seen:
                on_skip(Skipped(name, f"same pixels as {seen[loaded.pixel_hash]}"))
            else:
                seen[loaded.pixel_hash] = name
                yield loaded


_SCANNED: dict[tuple, ExampleFolder] = {}  # (folder, every file's name, size and time) -> its scan


def example_folder(path: str | Path, follow_links: bool = False) -> ExampleFolder:
    """Scan a folder of examples: its files and their digest (each file read once, for its hash),
    after checking that one of them is a usable image; links that leave it are followed only with
    ``follow_links``. A folder unchanged since its last scan in this process (same names, sizes and
    times) is not read again: planning asks once per model."""
    root = Path(path)
    if not root.is_dir():
        raise ExamplesError(f"examples folder {root} does not exist or is not a folder")
    paths, links = discover(root, follow_links)
    names = [p.relative_to(root).as_posix() for p in paths]
    stats = [p.stat() for p in paths]
    signature = (str(root.resolve()), tuple((n, s.st_size, s.st_mtime_ns) for n, s in zip(names, stats)))
    if signature not in _SCANNED:
        if not any(isinstance(load_image(p, n), InputImage) for p, n in zip(paths, names)):
            raise ExamplesError(f"examples folder {root} has no usable image")
        hashes = [file_sha256(p) for p in paths]
        digest = hashlib.sha256(json.dumps(list(zip(names, hashes))).encode()).hexdigest()
        _SCANNED.clear()  # one folder a build: keep only the latest scan
        _SCANNED[signature] = ExampleFolder(root, tuple(zip(names, paths)), digest, tuple(links))
    return _SCANNED[signature]


def public_overrides(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A build's parameter overrides as pages and the manifest show them: the examples folder by
    its name, not by its absolute path on the machine that built."""
    shown = {technique: dict(values) for technique, values in overrides.items()}
    folder = shown.get("layer_ascent", {}).get("examples_dir")
    if folder:
        shown["layer_ascent"]["examples_dir"] = Path(folder).resolve().name
    return shown


@dataclass(frozen=True)
class Peak:
    """One example: its activation, where (image index in the pass, map cell), the image's name
    and the patch's box in the image's pixels (left, top, right, bottom)."""

    value: float
    index: int
    cell: tuple[int, int]
    image: str
    box: tuple[int, int, int, int]

    @property
    def order(self) -> tuple[float, int, int, int]:
        """Strongest first; among equal activations the later image, then the lower-right cell."""
        return self.value, self.index, *self.cell


@dataclass
class Mined:
    """One unit's examples (strongest first) and its highest activation over every image mined."""

    peaks: list[Peak] = field(default_factory=list)
    peak: float = float("-inf")
    images: int = 0  # how many images were mined
    tiles: list[np.ndarray] = field(default_factory=list, repr=False)  # each peak's patch as shown


def batches(images: Iterable[InputImage], size: int) -> Iterator[list[InputImage]]:
    """Lists of ``size`` images; each list is emptied once the next is asked for, so that only one
    batch of images is ever held (also while the caller's loop variable still names the list)."""
    batch: list[InputImage] = []
    for image in images:
        batch.append(image)
        if len(batch) == size:
            yield batch
            batch.clear()
    if batch:
        yield batch


class RunningExamples:
    """One layer's running top ``examples`` for each of ``filters``, fed one batch of maps at a time."""

    def __init__(self, filters: Sequence[int], examples: int, patch_strides: float):
        self.filters, self.examples, self.patch_strides = list(filters), examples, patch_strides
        self.mined = {filter_index: Mined() for filter_index in self.filters}

    def add(self, maps: Any, batch: Sequence[InputImage], first_index: int) -> None:
        """``maps``: N x len(filters) x H x W float tensor, the maps of ``batch``, whose first image
        is number ``first_index`` of the pass."""
        values, cells = _peaks_per_map(maps, self.examples, self.patch_strides / 2)
        highest = maps.amax(dim=(2, 3)).max(dim=0).values.cpu().numpy()
        for column, filter_index in enumerate(self.filters):
            unit = self.mined[filter_index]
            unit.peak = max(unit.peak, float(highest[column]))
            unit.images = first_index + len(batch)
            self._admit(unit, batch, first_index, values[:, column], cells[:, column], tuple(maps.shape[2:]))

    def _admit(self, unit: Mined, batch: Sequence[InputImage], first_index: int, values: np.ndarray,
               cells: np.ndarray, grid: tuple[int, int]) -> None:
        """Merge one batch's per-image peaks of one unit into its running top."""
        floor = unit.peaks[-1].value if len(unit.peaks) == self.examples else float("-inf")
        candidates = [(float(values[b, i]), first_index + b, int(cells[b, i, 0]), int(cells[b, i, 1]))
                      for b, i in zip(*np.nonzero(values >= floor)) if values[b, i] > float("-inf")]
        if not candidates:
            return
        ranked = sorted([p.order for p in unit.peaks] + candidates, reverse=True)[: self.examples]
        kept = {p.order: p for p in unit.peaks}
        unit.peaks = [kept.get(order) or self._peak(batch[order[1] - first_index], order, grid) for order in ranked]

    def _peak(self, image: InputImage, order: tuple[float, int, int, int], grid: tuple[int, int]) -> Peak:
        value, index, y, x = order
        top, left, bottom, right = patch_box(image.pixels.shape[:2], grid, (y, x), self.patch_strides)
        return Peak(value, index, (y, x), image.name, (left, top, right, bottom))


def mine(model: Any, units: Sequence[Unit], images: Iterable[InputImage], examples: int, patch_strides: float,
         reload: Callable[[str], InputImage], batch_size: int = MINING_BATCH,
         on_batch: Callable[[int], None] | None = None) -> dict[Unit, Mined]:
    """Every unit's ``examples`` strongest patches over ``images`` (an iterable read once, in
    batches), with at most one per neighbourhood of ``patch_strides / 2`` map cells within an image;
    then the patches, cut from each image that won, read once more by name with ``reload``.
    ``on_batch(images_done)`` after each batch (progress)."""
    from reportgen.models.hooks import forward_until
    from reportgen.core.lazy import torch

    layers = list(dict.fromkeys(layer for layer, _ in units))
    running = {layer: RunningExamples([f for other, f in units if other == layer], examples, patch_strides)
               for layer in layers}
    side = model.card.input_size
    size = model.card.fit_size(side, side)
    done = 0
    with torch.inference_mode():
        for batch in batches(images, batch_size):
            outputs = forward_until(model.module, model.inputs([image.pixels for image in batch], size), layers)
            for layer, layer_running in running.items():
                layer_running.add(model.layer_maps(layer, outputs[layer], size)[:, layer_running.filters].float(),
                                  batch, done)
            done += len(batch)
            del outputs
            if on_batch is not None:
                on_batch(done)
    mined = {(layer, f): layer_running.mined[f] for layer, layer_running in running.items() for f in layer_running.filters}
    cut_patches(mined.values(), reload)
    return mined


def cut_patches(mined: Iterable[Mined], reload: Callable[[str], InputImage]) -> None:
    """Every peak's patch, resized to a tile: each winning image read once, one at a time. Cut
    after the pass rather than as peaks come in, since most peaks that come in are pushed out."""
    mined = list(mined)
    by_image: dict[str, list[tuple[int, int]]] = {}
    for number, unit in enumerate(mined):
        unit.tiles = [np.empty(0)] * len(unit.peaks)
        for position, peak in enumerate(unit.peaks):
            by_image.setdefault(peak.image, []).append((number, position))
    for name, places in by_image.items():
        pixels = reload(name).pixels
        for number, position in places:
            left, top, right, bottom = mined[number].peaks[position].box
            mined[number].tiles[position] = render.resize(np.ascontiguousarray(pixels[top:bottom, left:right]),
                                                          (PATCH_TILE, PATCH_TILE))


def _peaks_per_map(maps: Any, count: int, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Each map's greedy peaks (strongest first, none within ``reach`` cells of a stronger one, in
    the larger of the two directions): values (N x C x count, -inf where a map has fewer) and
    cells (N x C x count x 2)."""
    from reportgen.core.lazy import torch

    batch, channels, height, width = maps.shape
    # Flipped, so that argmax's first maximum is the last position in row-major order: among equal
    # values the lower-right cell wins, as it does in a descending sort of (value, y, x).
    remaining = maps.reshape(batch, channels, height * width).flip(-1).clone()
    rows = torch.arange(height * width - 1, -1, -1, device=maps.device) // width
    columns = torch.arange(height * width - 1, -1, -1, device=maps.device) % width
    values, cells = [], []
    for _ in range(count):
        value, position = remaining.max(dim=-1)
        y, x = rows[position], columns[position]
        values.append(value)
        cells.append(torch.stack([y, x], dim=-1))
        near = ((rows - y[..., None]).abs() < reach) & ((columns - x[..., None]).abs() < reach)
        remaining = remaining.masked_fill(near, float("-inf"))
    return (torch.stack(values, dim=-1).cpu().numpy(),
            torch.stack(cells, dim=-2).cpu().numpy())


def patch_box(shape: tuple[int, int], grid: tuple[int, int], cell: tuple[int, int], strides: float):
    """(top, left, bottom, right) in the image's own pixels: ``strides`` map cells wide, centred on
    ``cell``, moved (not cut) to stay inside the image."""
    box = []
    for length, cells, at in zip(shape, grid, cell):
        step = length / cells
        size = min(length, max(1, round(strides * step)))
        start = min(max(0, round((at + 0.5) * step - size / 2)), length - size)
        box.append((start, start + size))
    (top, bottom), (left, right) = box
    return top, left, bottom, right

