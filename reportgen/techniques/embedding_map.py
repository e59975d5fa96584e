"""Embedding map: how a model groups the whole input folder (Karpathy's CNN-codes map; t-SNE of van
der Maaten & Hinton 2008).

Each input's penultimate features (what the classifier's head reads: the input of the last linear
layer the model runs, ``LoadedModel.codes``) are reduced to two dimensions with scikit-learn's
t-SNE, seeded, its perplexity sized to the folder. Drawn twice: every input's thumbnail in the
grid cell nearest its point (one atlas picture, whose cells the page links to the inputs' pages),
and a scatter coloured by the labelled class (labels.json, mistakes ringed) or else by the
model's top-1 class. One artifact per model over every input: its key holds a digest of every
input's pixels and labelled class, so adding, changing or relabelling one image makes it again.

A t-SNE layout turns, mirrors and drifts under other CPU kernels while its neighbourhoods hold: the
regression check compares each point's nearest neighbours (``neighbourhoods``), not positions.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence, TypeAlias

import numpy as np
from PIL import Image, ImageDraw

from reportgen.gallery import formats
from reportgen.pictures import render
from reportgen.core.choices import ParamError
from reportgen.core.meta import ClassColour, EmbeddedInput, EmbeddingMapMeta, EmbeddingMapRoles as Roles
from reportgen.techniques import embedding_map_view
from reportgen.techniques.base import (NO_CONTEXT, Request, Result, Technique, Unsupported, batched, not_keyed, register,
                                       request_of)

MIN_INPUTS = 5  # fewer points have no neighbourhoods to show
NEIGHBOURS = 5  # k of the nearest-neighbour measures (label agreement, the regression check), at most
# A map of fewer points has no neighbourhoods to judge: t-SNE places a handful of points freely (their
# layout moves under another CPU's rounding), so the regression check compares the features they are
# placed from instead.
NEIGHBOURHOODS_FROM = 20
FEWEST_ITERATIONS = 250  # scikit-learn's t-SNE runs at least this many (all of them with its early exaggeration)
EXACT_UP_TO = 1000  # inputs: exact t-SNE (no Barnes-Hut approximation) up to this many
ROOM = 1.3  # atlas cells per input: free cells keep the gaps between groups visible
CELL_GAP_PX = 2
SCATTER_MARGIN_PX = 16
# Colours of the most frequent classes (matplotlib's tab10 and tab20's light shades, grey left out);
# the other classes share OTHER_COLOUR.
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
                 "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
OTHER_COLOUR = "#b4b4b4"
MISTAKE_RING = (0, 0, 0)


@dataclass(frozen=True)
class Params:
    perplexity: float = 30.0  # the most; a folder of n inputs gets at most (n - 1) / 3
    iterations: int = 1000  # t-SNE's gradient steps (at least 250)
    seed: int = 0
    thumbnail_px: int = 64  # an atlas cell's side, at most
    atlas_px: int = 3072  # the atlas's longer side, at most: cells shrink to fit a large folder
    scatter_px: int = 720
    batch_size: int = not_keyed(32, "how many go through the model at once")


@dataclass(frozen=True)
class MapRequest:
    """The one artifact per model: the sized t-SNE and drawing settings, and ``inputs``, the digest
    of every input's pixel hash and labelled class (the inputs themselves are ``Request.inputs``)."""

    perplexity: float
    iterations: int
    seed: int
    thumbnail_px: int
    atlas_px: int
    scatter_px: int
    inputs: str


@register
class EmbeddingMap(Technique):
    """A t-SNE map of the input folder's penultimate features, per model.

    Params: ``perplexity`` (the most; sized to the folder), ``iterations``, ``seed``,
    ``thumbnail_px`` / ``atlas_px`` (the atlas's cells and size), ``scatter_px``, ``batch_size``.
    Meta: ``EmbeddingMapMeta``: a point per input (its id, atlas cell, top-1 and labelled class),
    the grid, the perplexity used, the scatter's legend, mistakes and the labels' agreement with
    the map's neighbourhoods.
    Roles: ``atlas`` and ``scatter`` (pictures), ``points`` (N x 2) and ``features`` (raw arrays).
    """
    name = "embedding_map"
    title = "Embedding map (t-SNE of the features)"
    description = (
        "How the model groups the whole input folder: each input's penultimate features (what the "
        "classifier's head reads) placed in two dimensions by t-SNE (van der Maaten & Hinton 2008), "
        "inputs the model describes alike side by side, as in Karpathy's map of CNN codes. The "
        "thumbnails link to each input's page; the scatter shows the classes and the model's mistakes."
    )
    classic = ("Karpathy 2014, \u201ct-SNE visualization of CNN codes\u201d; van der Maaten & Hinton 2008, "
               "\u201cVisualizing data using t-SNE\u201d")
    version = 1
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = EmbeddingMapMeta
    Roles = Roles
    presets = {
        # 500: scikit-learn's first 250 steps exaggerate the clusters; the map settles only after them
        "quick": {"iterations": 500, "thumbnail_px": 48, "atlas_px": 1536, "scatter_px": 480},
        "full": {"iterations": 2000, "thumbnail_px": 96, "atlas_px": 4096, "scatter_px": 960},
    }
    neighbourhoods = (Roles.POINTS,)
    min_inputs = MIN_INPUTS

    def view(self, manifest, artifacts):
        return embedding_map_view.view(manifest, artifacts)

    def plan(self, params, card, images, context=NO_CONTEXT):
        if params.iterations < FEWEST_ITERATIONS or params.perplexity <= 0:
            raise ParamError(f"iterations must be at least {FEWEST_ITERATIONS} and perplexity above 0")
        if min(params.thumbnail_px, params.atlas_px, params.scatter_px) < 8:
            raise ParamError("thumbnail_px, atlas_px and scatter_px must be at least 8")
        if len(images) < self.min_inputs:
            raise Unsupported(f"{formats.count(len(images), 'input')}; a map of the folder needs at least {self.min_inputs}")
        ordered = sorted(images, key=lambda image: image.pixel_hash)
        labels = [None if image.label is None else card.class_index(image.label) for image in ordered]
        digest = hashlib.sha256("".join(f"{i.pixel_hash} {label}\n" for i, label in zip(ordered, labels)).encode())
        request = request_of(MapRequest, params, perplexity=sized_perplexity(params.perplexity, len(ordered)),
                             inputs=digest.hexdigest())
        return [Request("map", request, inputs=tuple(ordered))]

    def compute(self, params, model, requests, progress, context=NO_CONTEXT):
        from reportgen.core.budget import frames_per_forward

        per_forward = frames_per_forward(params.batch_size, model.card)
        for request in requests:
            yield request, _map(request.args, model, list(request.inputs), per_forward, progress)


def sized_perplexity(most: float, inputs: int) -> float:
    """t-SNE's perplexity (about how many neighbours each point keeps close) for ``inputs`` points:
    ``most``, or (inputs - 1) / 3 where that is smaller (scikit-learn needs it below the count)."""
    return round(min(most, (inputs - 1) / 3), 4)


def _map(args: MapRequest, model, images, per_forward: int, progress) -> Result:
    cell = atlas_cell(args, len(images))
    features, top1, thumbnails = [], [], []
    head_input = True
    for chunk in batched(images, per_forward):
        pixels = [image.pixels for image in chunk]
        codes, logits, head_input = model.codes(model.inputs(pixels))
        features.append(codes)
        top1 += [int(i) for i in logits.argmax(axis=1)]
        thumbnails += [thumbnail(picture, cell) for picture in pixels]
        progress.tick(len(top1), len(images))
    return mapped(args, model.card, images, np.concatenate(features), top1, head_input, thumbnails)


def atlas_cell(args: MapRequest, inputs: int) -> int:
    """An atlas cell's side in pixels: ``thumbnail_px``, less where the grid would pass ``atlas_px``."""
    return max(8, min(args.thumbnail_px, args.atlas_px // max(grid_shape(inputs))))


def mapped(args: MapRequest, card, images, features: np.ndarray, top1: list[int], head_input: bool,
           thumbnails: list[np.ndarray]) -> Result:
    """The map from the inputs' features, top-1 classes and thumbnails (``thumbnail``): the t-SNE
    points, the atlas, the scatter and the meta."""
    columns, rows = grid_shape(len(images))
    codes = features.astype(np.float32)
    points = embed(codes, args.perplexity, args.iterations, args.seed)
    cells = snap_to_grid(points, columns, rows)
    labels = [None if image.label is None else card.class_index(image.label) for image in images]
    labelled = any(label is not None for label in labels)
    legend, colours = _legend(labels if labelled else top1, card.category, unlabelled=labelled)
    wrong = [label is not None and label != top for label, top in zip(labels, top1)]
    k = neighbour_count(sum(label is not None for label in labels))
    agreement = label_agreement(points, labels, k)
    meta = EmbeddingMapMeta(
        points=tuple(EmbeddedInput(image.id, column, row, top, label)
                     for image, (column, row), top, label in zip(images, cells, top1, labels)),
        columns=columns, rows=rows, cell_px=atlas_cell(args, len(images)), features=codes.shape[1],
        head_input=head_input, perplexity=args.perplexity,
        coloured_by="labels.json" if labelled else "top-1 prediction", legend=legend,
        mistakes=sum(wrong) if labelled else None, label_agreement=agreement,
        neighbours=None if agreement is None else k,
    )
    return Result(arrays={Roles.POINTS: points, Roles.FEATURES: codes},
                  images={Roles.ATLAS: _atlas(thumbnails, cells, columns, rows, meta.cell_px),
                          Roles.SCATTER: _scatter(points, colours, wrong, args.scatter_px)},
                  meta=meta)


def embed(features: np.ndarray, perplexity: float, iterations: int, seed: int) -> np.ndarray:
    """N x D features -> N x 2 float32 points: scikit-learn's t-SNE, PCA-initialised and seeded; exact
    up to ``EXACT_UP_TO`` points, Barnes-Hut beyond."""
    from sklearn.manifold import TSNE

    method = "exact" if len(features) <= EXACT_UP_TO else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=perplexity, max_iter=iterations, init="pca", learning_rate="auto",
                random_state=seed, method=method)
    return tsne.fit_transform(features.astype(np.float64)).astype(np.float32)


def grid_shape(inputs: int) -> tuple[int, int]:
    """(columns, rows) of a square-ish atlas grid with ``ROOM`` cells per input."""
    cells = math.ceil(inputs * ROOM)
    columns = math.ceil(math.sqrt(cells))
    return columns, math.ceil(cells / columns)


def snap_to_grid(points: np.ndarray, columns: int, rows: int) -> list[tuple[int, int]]:
    """Each point's (column, row): the free cell nearest it, the map scaled to the grid, taken in
    turn (Karpathy's t-SNE grid). Deterministic: points in their order, ties to the first cell."""
    scaled = np.stack([render.minmax(points[:, 0]) * columns, render.minmax(points[:, 1]) * rows], axis=1)
    column_of, row_of = np.meshgrid(np.arange(columns), np.arange(rows))
    centres = np.stack([column_of.ravel() + 0.5, row_of.ravel() + 0.5], axis=1)
    taken = np.zeros(len(centres), dtype=bool)
    cells = []
    for point in scaled:
        distance = ((centres - point) ** 2).sum(axis=1)
        distance[taken] = np.inf
        cell = int(np.argmin(distance))
        taken[cell] = True
        cells.append((cell % columns, cell // columns))
    return cells


def nearest_neighbours(points: np.ndarray, k: int) -> np.ndarray:
    """N x k indices of each point's ``k`` nearest other points, nearest first, in rows of a few
    hundred, so that a large folder needs no N x N matrix."""
    points = np.asarray(points, np.float64)
    found = []
    for start in range(0, len(points), 256):
        block = points[start:start + 256]
        distance = ((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
        distance[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(distance, nearest, axis=1), axis=1, kind="stable")
        found.append(np.take_along_axis(nearest, order, axis=1))
    return np.concatenate(found)


def neighbour_count(points: int) -> int:
    """k of the nearest-neighbour measures: ``NEIGHBOURS``, fewer in a small map (at most a quarter
    of the other points), so that a neighbourhood stays a small part of the map."""
    return max(1, min(NEIGHBOURS, (points - 1) // 4))


def neighbours_kept(before: np.ndarray, after: np.ndarray) -> float:
    """How well ``after`` keeps the neighbourhoods of ``before`` (the same points, moved): the share of
    each point's k nearest neighbours in ``before`` that are among its 2k nearest in ``after``, above
    what a random layout keeps (2k / (N - 1)), scaled so that 1 is every neighbour kept and 0 no
    more than chance; k: ``neighbour_count``.
    The window of 2k lets a layout's grain move (t-SNE amplifies rounding) and still catches a
    layout that moved its groups apart."""
    count = len(before)
    k = neighbour_count(count)
    chance = 2 * k / (count - 1) if count > 1 else 1.0
    if chance >= 1:
        return 1.0
    first, second = nearest_neighbours(before, k), nearest_neighbours(after, 2 * k)
    kept = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(first, second)]))
    return (kept - chance) / (1 - chance)


def label_agreement(points: np.ndarray, labels: Sequence[int | None], k: int) -> float | None:
    """The share of labelled points whose ``k`` nearest labelled points mostly (more than half) have
    their label: how well the map's neighbourhoods group the classes (None: too few labels)."""
    known = [index for index, label in enumerate(labels) if label is not None]
    if not 1 <= k < len(known):
        return None
    classes = np.array([labels[index] for index in known])
    near = nearest_neighbours(points[known], k)
    return float(np.mean((classes[near] == classes[:, None]).sum(axis=1) > k / 2))


def _legend(classes: Sequence[int | None], category, unlabelled: bool) -> tuple[tuple[ClassColour, ...], list[str]]:
    """The scatter's legend (the most frequent classes first, each with a colour, then the rest
    together and the unlabelled inputs) and each point's colour."""
    counts: dict[int, int] = {}
    for index in classes:
        if index is not None:
            counts[index] = counts.get(index, 0) + 1
    ranked = sorted(counts, key=lambda index: (-counts[index], index))
    colour_of = {index: colour for index, colour in zip(ranked, CLASS_COLOURS)}
    legend = [ClassColour(index, category(index), colour_of[index], counts[index]) for index in ranked[:len(CLASS_COLOURS)]]
    others = ranked[len(CLASS_COLOURS):]
    if others:
        plural = "class" if len(others) == 1 else "classes"
        legend.append(ClassColour(None, f"{len(others)} other {plural}", OTHER_COLOUR, sum(counts[i] for i in others)))
    missing = sum(index is None for index in classes)
    if unlabelled and missing:
        legend.append(ClassColour(None, "no label", OTHER_COLOUR, missing))
    return tuple(legend), [OTHER_COLOUR if index is None else colour_of.get(index, OTHER_COLOUR) for index in classes]


def thumbnail(pixels: np.ndarray, cell: int) -> np.ndarray:
    """The picture scaled (up or down) to fit an atlas cell of ``cell`` px with its gap, aspect kept."""
    height, width = pixels.shape[:2]
    scale = (cell - CELL_GAP_PX) / max(height, width)
    return render.resize(np.asarray(pixels), (max(1, round(width * scale)), max(1, round(height * scale))))


def _atlas(thumbnails: Sequence[np.ndarray], cells: Sequence[tuple[int, int]], columns: int, rows: int,
           cell: int) -> np.ndarray:
    """Every thumbnail centred in its cell of a white ``columns`` x ``rows`` grid of ``cell`` px."""
    canvas = np.full((rows * cell, columns * cell, 3), 255, np.uint8)
    for thumbnail, (column, row) in zip(thumbnails, cells):
        height, width = thumbnail.shape[:2]
        top, left = row * cell + (cell - height) // 2, column * cell + (cell - width) // 2
        canvas[top:top + height, left:left + width] = thumbnail
    return canvas


def _scatter(points: np.ndarray, colours: Sequence[str], wrong: Sequence[bool], side: int) -> np.ndarray:
    """The points as discs of their class's colour on a white square (oriented as the atlas), the
    mistakes ringed in black and drawn last, so that none hides under another point."""
    radius = float(np.clip(side / (3 * math.sqrt(len(points))), 2, 7))
    span = side - 2 * SCATTER_MARGIN_PX
    xy = np.stack([render.minmax(points[:, 0]), render.minmax(points[:, 1])], axis=1) * span + SCATTER_MARGIN_PX
    picture = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    for index in sorted(range(len(points)), key=lambda i: wrong[i]):
        x, y = (float(v) for v in xy[index])
        if wrong[index]:
            ring = radius + 3
            draw.ellipse((x - ring, y - ring, x + ring, y + ring), outline=MISTAKE_RING, width=2)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colours[index], outline=(60, 60, 60))
    return np.asarray(picture)
