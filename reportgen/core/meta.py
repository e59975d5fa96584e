"""What each technique reports: its typed ``Meta`` and the names of its output roles (the
optimising techniques' in ``reportgen.core.ascent_meta``).

A technique's ``Result.meta`` is one of these frozen dataclasses; downstream (the page views, the
templates, regression checks, the Python API) reads its attributes, never string keys. One
spelling per idea across techniques: ``class_index`` / ``class_name`` for the class a result is
about, ``top1_index`` / ``top1_name`` for the model's top-1 class, ``probability`` for the model's
probability of ``class_index``, ``regulariser`` for the penalty term of an ascent.

Roles name the files a result holds (``Result.arrays`` / ``images`` / ``animations``, then the
cache's and the site's files). The cache and the manifest store meta as JSON; ``load`` turns it
back into the type its technique's class declares, so a manifest read by the site or by regression checks carries
typed meta. Torch-free and numpy-free: the site imports it.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence


@dataclass(frozen=True)
class Meta:
    """Base of every technique's meta. ``renamed``: names older builds wrote -> the field's name,
    so that a cache or a baseline made before a rename still loads."""

    renamed: ClassVar[Mapping[str, str]] = {}

    def to_json(self) -> dict[str, Any]:
        """Every field that has a value (None fields are left out), nested records as dicts."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Meta":
        hints, names = _fields_of(cls)
        values = {}
        for name, value in data.items():
            name = cls.renamed.get(name, name)
            if name not in names:
                raise ValueError(f"{cls.__name__} has no field {name!r}")
            values[name] = _typed(hints[name], value)
        for name in names - values.keys():  # left out of the JSON because it was None
            if type(None) in typing.get_args(hints[name]):
                values[name] = None
        return cls(**values)


_FIELDS: dict[type[Meta], tuple[dict[str, Any], frozenset[str]]] = {}


def _fields_of(cls: type[Meta]) -> tuple[dict[str, Any], frozenset[str]]:
    """A Meta class's resolved type hints and field names: read once per class, not per artifact
    (a site of thousands of inputs loads every artifact's meta)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = typing.get_type_hints(cls), frozenset(f.name for f in dataclasses.fields(cls))
    return _FIELDS[cls]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Meta):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _typed(kind: Any, value: Any) -> Any:
    """A JSON value as the field's declared type: records from dicts, tuples from lists."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (kind,) = [a for a in typing.get_args(kind) if a is not type(None)]
        origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_typed(item, v) for v in value)
    if isinstance(kind, type) and issubclass(kind, Meta):
        return kind.from_json(value)
    return value


# --- predictions -----------------------------------------------------------------------------


class PredictionRoles:
    LOGITS = "logits"  # raw array: the model's logits


@dataclass(frozen=True)
class Prediction(Meta):
    renamed: ClassVar[Mapping[str, str]] = {"index": "class_index", "name": "class_name"}

    class_index: int
    class_name: str
    probability: float


@dataclass(frozen=True)
class PredictionsMeta(Meta):
    top: tuple[Prediction, ...]  # most probable first


# --- feature maps, filters -------------------------------------------------------------------


class FeatureMapRoles:
    GRID = "grid"  # picture: the first channels' maps as a grid
    ACTIVATIONS = "activations"  # raw array


@dataclass(frozen=True)
class FeatureMapsMeta(Meta):
    channels: int  # channels shown
    size: tuple[int, int]  # (height, width) of each map
    layout: str | None = None  # "nhwc" or "tokens" when the layer is not channels-first


class FilterRoles:
    FILTERS = "filters"  # picture: the weights as a grid
    WEIGHTS = "weights"  # raw array


@dataclass(frozen=True)
class FiltersMeta(Meta):
    shape: tuple[int, ...]  # the weight tensor's shape (out, in, height, width)


# --- saliency --------------------------------------------------------------------------------


class SaliencyRoles:
    COLOUR = "color"  # picture: the attribution min-max scaled to RGB
    GRAY = "gray"  # picture: max |attribution| over channels, clipped at its 99th percentile
    OVERLAY = "overlay"  # picture: Grad-CAM's heat map over the image
    ATTRIBUTION = "attribution"  # raw array, C x H x W
    CAM = "cam"  # raw array: Grad-CAM at the layer's resolution


@dataclass(frozen=True)
class RandomisationStage(Meta):
    layers: int  # how many top layers were randomised
    down_to: str  # the lowest of them
    spearman: float | None  # rank correlation with the trained model's map (None: a constant map)


@dataclass(frozen=True)
class SaliencyMeta(Meta):
    method: str
    class_index: int  # the class explained
    class_name: str
    class_source: str  # "labels.json" or "top-1 prediction"
    probability: float  # the model's probability of the class explained
    top1_index: int
    top1_name: str
    cam_layer: str | None = None  # Grad-CAM methods: the layer explained
    cam_layout: str | None = None  # ... when it is channels-last ("nhwc") or tokens
    cam_note: str | None = None  # ... when the model's head makes Grad-CAM's averaged gradient unreliable
    unguided_modules: int | None = None  # methods that depend on the ReLU rule: activations the rule missed
    unguided_calls: int | None = None
    ig_completeness_gap: float | None = None  # Integrated Gradients: sum of attributions - score difference
    deletion_auc: float | None = None  # sanity: area under the deletion curve
    randomisation: tuple[RandomisationStage, ...] | None = None  # sanity: the cascade, top layers first
    spearman: float | None = None  # sanity: the last stage's correlation

    @property
    def unguided(self) -> int:
        return (self.unguided_modules or 0) + (self.unguided_calls or 0)


# --- faithfulness ----------------------------------------------------------------------------


class FaithfulnessRoles:
    SCORES = "scores"  # raw array: methods x metrics, in ``methods`` x ``metrics`` order (NaN: none)


@dataclass(frozen=True)
class FaithfulnessMeta(Meta):
    methods: tuple[str, ...]  # the saliency methods scored, then the baselines "random" and "centre"
    metrics: tuple[str, ...]  # insertion, deletion, road_morf, road_lerf[, randomisation][, pointing]
    scores: Mapping[str, Mapping[str, float | None]]  # method -> metric -> mean over the images
    curves: Mapping[str, Mapping[str, Sequence[float]]]  # method -> insertion / deletion -> mean curve (a list, as JSON loads it)
    images: int
    pointing_images: int  # images with boxes in boxes.json
    pointing_tolerance_px: float  # at the model's input size
    input_size: int
    # method -> metric -> each image's score, in the request's ``inputs`` order (None: not defined on
    # that image, e.g. pointing without boxes); empty in builds made before it was recorded
    per_image: Mapping[str, Mapping[str, Sequence[float | None]]] = dataclasses.field(default_factory=dict)
    proportional: tuple[tuple[str, ...], ...] = ()  # groups of methods whose maps are proportional on every image
    cam_feeds_pooling: bool | None = None  # saliency's CAM layer feeds global average pooling directly; None: no CAM


# --- fooling images --------------------------------------------------------------------------


class AdversarialRoles:
    PERTURBED = "perturbed"  # picture: the photo at the model's input size plus the perturbation, 8-bit
    PERTURBATION = "perturbation"  # picture: the perturbation amplified to the full range, grey = none
    FEATURES = "features"  # raw array: the model's features of the perturbed photo (regression checks)


@dataclass(frozen=True)
class AdversarialMeta(Meta):
    goal: str  # "untargeted" (any other class) or "targeted" (target_index)
    attack: str  # "pgd" or "fgsm"
    original_index: int  # the model's top-1 class of the photo at its input size (8-bit)
    original_name: str
    original_probability: float
    top1_index: int  # the model's top-1 class of the perturbed photo as saved
    top1_name: str
    top1_probability: float
    epsilon: int  # grey levels (of 255): the smallest budget that fooled it, else the largest tried
    fooled: bool  # whether the top-1 changed (untargeted) or became the target (targeted)
    steps: int  # gradient steps per budget tried
    target_index: int | None = None
    target_name: str | None = None

    @property
    def style(self) -> str:
        """The attack: regression checks group chaotic runs by style (``Technique.chaotic_styles``)."""
        return self.attack
# --- embedding map --------------------------------------------------------------------------


class EmbeddingMapRoles:
    ATLAS = "atlas"  # picture: a thumbnail of every input in the grid cell nearest its point
    SCATTER = "scatter"  # picture: the points coloured by class, mistakes ringed
    POINTS = "points"  # raw array: N x 2, the t-SNE coordinates, in ``points`` order
    FEATURES = "features"  # raw array: N x D, the penultimate features the map is made from


@dataclass(frozen=True)
class EmbeddedInput(Meta):
    image_id: str  # the input's id (its pixels' hash prefix): the site's page images/<id>.html
    column: int  # its cell in the atlas
    row: int
    top1_index: int  # the model's top-1 class
    label_index: int | None = None  # labels.json's class, as this model's index


@dataclass(frozen=True)
class ClassColour(Meta):
    class_index: int | None  # None: the classes not given a colour of their own, or no label
    class_name: str
    colour: str  # "#rrggbb"
    inputs: int


@dataclass(frozen=True)
class EmbeddingMapMeta(Meta):
    points: tuple[EmbeddedInput, ...]  # the rows of the ``points`` array
    columns: int  # the atlas's grid
    rows: int
    cell_px: int
    features: int  # the length of each input's feature vector
    head_input: bool  # the features are what the head reads (False: the model's output; it runs no linear layer)
    perplexity: float  # as used, sized to the inputs
    coloured_by: str  # "labels.json" or "top-1 prediction"
    legend: tuple[ClassColour, ...]  # the scatter's colours, most inputs first
    mistakes: int | None = None  # labelled inputs whose top-1 class is not their label (None: no labels)
    label_agreement: float | None = None  # share of labelled inputs most of whose k nearest labelled neighbours share their label
    neighbours: int | None = None  # that k (None: too few labels to count)


# --- from JSON -------------------------------------------------------------------------------

# Technique name -> the Meta types it reports, as each technique's class declares them (filled by
# ``reportgen.techniques.base.register``: a manifest is read after the registry is loaded).
_DECLARED: dict[str, tuple[type[Meta], ...]] = {}


def declare(technique: str, meta: Any) -> None:
    """Record a technique's Meta type, or union of Meta types, for ``load``."""
    kinds = typing.get_args(meta) if typing.get_origin(meta) in (typing.Union, types.UnionType) else (meta,)
    if not all(isinstance(kind, type) and issubclass(kind, Meta) for kind in kinds):
        raise TypeError(f"technique {technique!r}: Meta must be a reportgen.core.meta.Meta or a union of them, got {meta!r}")
    _DECLARED[technique] = kinds


def meta_type(technique: str, data: Mapping[str, Any]) -> type[Meta]:
    """The type of a technique's meta: its declared type, or of a union the first whose fields
    take the JSON's (a unit's visualisation or its dataset examples, for layer ascent)."""
    if technique not in _DECLARED:
        raise ValueError(f"no meta type for technique {technique!r} (no registered technique of that name)")
    kinds = _DECLARED[technique]
    for kind in kinds:
        hints, names = _fields_of(kind)
        given = {kind.renamed.get(name, name) for name in data}
        required = {f.name for f in dataclasses.fields(kind)
                    if f.default is dataclasses.MISSING and type(None) not in typing.get_args(hints[f.name])}
        if given <= names and required <= given:
            return kind
    return kinds[0]  # none fits: the first's from_json names the field that does not


def load(technique: str, data: Mapping[str, Any] | Meta) -> Meta:
    """A technique's meta from its JSON (already typed: as it is)."""
    if isinstance(data, Meta):
        return data
    return meta_type(technique, data).from_json(data)
