"""Dataset-level numbers from each model's predictions: with ``labels.json``, its top-1 / top-k
accuracy and the images it gets wrong; without, how its top-1 classes spread over the folder; and
which labels every model knows (``checked_labels``). Never imports torch.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from reportgen.core.artifacts import Artifact, ImageInfo, Manifest, ModelInfo
from reportgen.core.errors import first_line
from reportgen.pictures.images import LABELS_FILE, InputImage, Skipped
from reportgen.core.meta import Prediction, PredictionsMeta
from reportgen.models import ModelCard, ModelError

DISTRIBUTION_ROWS = 10  # classes listed per model; the rest are counted together
DISTRIBUTION_MIN_INPUTS = 10  # fewer inputs are shown one by one: a spread of their classes says nothing more


def checked_labels(images: list[InputImage], cards: Iterable[ModelCard]) -> tuple[list[InputImage], list[Skipped]]:
    """``images`` with each label that some model lacks (an unknown name, an index out of its
    range) taken off, and one line per label taken off. Such an image is still explained, by each
    model's top-1 prediction, and is left out of accuracy: a label holds for every model or for
    none, so that models are compared on the same images."""
    cards = list(cards)
    checked, problems = [], []
    for image in images:
        problem = next((problem for card in cards if (problem := _label_problem(card, image.label))), None)
        if problem is None:
            checked.append(image)
        else:
            checked.append(dataclasses.replace(image, label=None))
            problems.append(Skipped(LABELS_FILE, f"{image.name}: {problem}; explained by the top-1 prediction"))
    return checked, problems


def _label_problem(card: ModelCard, label: str | int | None) -> str | None:
    if label is None:
        return None
    try:
        card.class_index(label)
    except ModelError as error:
        return first_line(error)
    return None


def is_label(label: str | int, prediction: Prediction) -> bool:
    """Whether ``prediction`` is the labelled class: an index (or a string of digits) compares with
    the class index, a category name with the class name, ignoring case (as labels.json is read)."""
    if isinstance(label, int) or label.strip().lstrip("-").isdigit():
        return prediction.class_index == int(label)
    return prediction.class_name.lower() == label.strip().lower()


def top_of(predictions: Artifact) -> tuple[Prediction, ...]:
    """A predictions artifact's top list, most probable first."""
    if not isinstance(predictions.meta, PredictionsMeta):
        raise TypeError(f"{predictions.describe()} is not a predictions artifact")
    return predictions.meta.top


def label_rank(label: str | int, predictions: Artifact) -> int | None:
    """Where the labelled class stands in a predictions artifact's top list (1 = top-1), or None."""
    return next((rank for rank, p in enumerate(top_of(predictions), 1) if is_label(label, p)), None)


@dataclass(frozen=True)
class Miss:
    """An image whose top-1 class is not its label."""

    image: ImageInfo
    predictions: Artifact
    rank: int | None  # where the label stands in the model's top list (None: not in it)


@dataclass(frozen=True)
class Accuracy:
    """One model's accuracy over the labelled images that it predicted."""

    model: ModelInfo
    labelled: int
    top1: int  # images whose top-1 class is their label
    topk: int  # images whose label is among the top k
    k: int
    misses: list[Miss]  # in the folder's order

    @property
    def top1_share(self) -> float:
        return self.top1 / self.labelled

    @property
    def topk_share(self) -> float:
        return self.topk / self.labelled


def accuracy(manifest: Manifest, predictions: Mapping[tuple[str, str | None], Artifact]) -> list[Accuracy]:
    """Per model with any labelled image predicted; empty without labels. ``predictions`` is each
    (model, image) pair's predictions artifact."""
    found = []
    for model in manifest.models:
        labelled = [(image, label, top) for image in manifest.images if (label := image.label) is not None
                    and (top := predictions.get((model.name, image.name))) is not None]
        if not labelled:
            continue
        ranks = [label_rank(label, top) for _, label, top in labelled]
        k = min(len(top_of(top)) for _, _, top in labelled)
        misses = [Miss(image, top, rank) for (image, _, top), rank in zip(labelled, ranks) if rank != 1]
        found.append(Accuracy(model, len(labelled), sum(rank == 1 for rank in ranks),
                              sum(rank is not None and rank <= k for rank in ranks), k, misses))
    return found


@dataclass(frozen=True)
class ClassCount:
    class_index: int
    class_name: str
    images: int
    share: float


@dataclass(frozen=True)
class Distribution:
    """How one model's top-1 classes spread: the most frequent first, the rest counted together."""

    model: ModelInfo
    images: int
    classes: int  # distinct top-1 classes
    rows: list[ClassCount]
    rest: int  # images whose top-1 class is not listed


def distribution(manifest: Manifest, predictions: Mapping[tuple[str, str | None], Artifact]) -> list[Distribution]:
    """Per model that predicted any image: its top-1 classes, most frequent first (ties by class index).
    Empty for fewer than ``DISTRIBUTION_MIN_INPUTS`` inputs."""
    found: list[Distribution] = []
    if len(manifest.images) < DISTRIBUTION_MIN_INPUTS:
        return found
    for model in manifest.models:
        tops = [top_of(top)[0] for image in manifest.images
                if (top := predictions.get((model.name, image.name))) is not None and top_of(top)]
        if not tops:
            continue
        counts = Counter((p.class_index, p.class_name) for p in tops)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
        listed = [ClassCount(index, name, n, n / len(tops)) for (index, name), n in ranked[:DISTRIBUTION_ROWS]]
        found.append(Distribution(model, len(tops), len(counts), listed, len(tops) - sum(c.images for c in listed)))
    return found

