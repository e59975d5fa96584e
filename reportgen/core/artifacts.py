"""Typed records of what a build makes: the manifest's only schema.

``Request`` (what a technique plans) and ``Result`` (what it computes) pass between the pipeline,
the techniques and the cache. ``Artifact`` and ``Manifest`` describe a finished build: the pipeline
produces a ``Manifest``; the site adds pictures and anchors to it; regression checks (and any
other reader) load it back with ``Manifest.from_json``. Readers look values up through typed
lookups that fail loudly on a name no artifact knows, so a misspelt criterion is an error rather
than a section that silently disappears. Never imports torch.
"""
from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Iterable, Mapping, NamedTuple, Sequence, TypeVar

import numpy as np

from reportgen.core import meta as meta_types
from reportgen.core.meta import Meta


def not_keyed(default: Any, why: str) -> Any:
    """A ``Params`` or request field that does not change what is computed, so not part of a
    request's spec nor of its cache key: how many images go through the model at once, a time
    budget whose effect the keyed step counts carry, a folder whose content's digest is keyed.
    ``why`` says which."""
    return field(default=default, metadata={"keyed": False, "why": why})


def is_keyed(declared: Any) -> bool:
    """Whether a dataclass field enters the request (every field not declared with ``not_keyed``)."""
    return declared.metadata.get("keyed", True)


T = TypeVar("T")


def request_of(kind: type[T], params: Any, **chosen: Any) -> T:
    """A request of type ``kind`` (a frozen dataclass) whose fields take the Params' values of the
    same name, except those ``chosen`` for this artifact (its layer, its style, a sized step count).

    A request type lists only what its artifacts read: a technique that makes one artifact per
    layer has ``layer``, not the Params' ``layers``, so adding a layer to the list does not change
    the keys of the artifacts already cached."""
    inherited = {f.name: getattr(params, f.name) for f in fields(typing.cast(Any, kind))
                 if f.init and f.name not in chosen and hasattr(params, f.name)}
    return kind(**inherited, **chosen)


def spec_of(request: Any) -> dict[str, Any]:
    """A request dataclass as the JSON its cache key hashes and the manifest records: every keyed
    field that is set (None: an optional part the artifact does not use), tuples as lists. A field
    whose value is itself a dataclass (an ascent run's settings) contributes its fields."""
    spec: dict[str, Any] = {}
    for declared in fields(request):
        value = getattr(request, declared.name)
        if not is_keyed(declared) or value is None:
            continue
        if is_dataclass(value):
            spec.update(spec_of(value))
        else:
            spec[declared.name] = _jsonable(value)
    return spec


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


if typing.TYPE_CHECKING:  # for annotations only: this module is read by the torch-free site
    from reportgen.pictures.images import InputImage


@dataclass(frozen=True)
class Request:
    """One artifact to produce.

    ``args`` is what the artifact depends on: a frozen dataclass of the technique's (one per
    variant where variants read different fields), read by attribute; ``spec`` is its JSON, which
    enters the cache key and the manifest. ``variant`` is the short label the gallery groups by
    (``"features.29"``, ``"guided"``, ``"52/l2"``). ``image`` is the one input image of a
    per-image artifact (its pixels' hash enters the key); ``inputs`` the input images an artifact
    reads all of at once (a unit's best patches over the inputs): their pixel hashes must then be
    in ``args``, the pipeline keys only ``image``. ``reads`` the cache keys of other artifacts it is
    computed from (faithfulness: saliency's maps): they enter its key, so it is made again when
    they are, but they are no parameter of its own and the manifest does not record them (they
    change with every change of code).
    """

    variant: str
    args: Any
    image: "InputImage | None" = None
    inputs: "tuple[InputImage, ...]" = ()
    reads: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, Any]:
        return spec_of(self.args)


@dataclass
class Result:
    """What a technique computes for one request.

    arrays: raw float results, stored as .npy beside the pictures for regression checks.
    images: rendered pictures (uint8, HxW or HxWx3), stored as PNG.
    animations: lists of frames (uint8 HxWx3), stored as looping GIFs.
    meta: what the technique reports (its typed ``Meta``: class explained, final probability...).
    Keys of arrays / images / animations are the technique's roles (``reportgen.core.meta``).
    """

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    animations: dict[str, list[np.ndarray]] = field(default_factory=dict)
    meta: Meta | None = None


class UnknownName(KeyError):
    """A lookup by a name that no artifact (field, spec or meta) has: a mistake, never 'no match'."""

    def __str__(self) -> str:
        return str(self.args[0])


class File(NamedTuple):
    """A picture as the site publishes it: path relative to the site, and its size in pixels."""

    path: str
    width: int
    height: int


@dataclass(frozen=True)
class Artifact:
    """One published result: what it is (technique, variant, model, image, spec), where its files
    are (``cache_files`` in the cache; ``files`` in the site, once written) and what the technique
    reported (``meta``, its technique's typed ``Meta``; given as JSON, it is loaded as that type).
    ``image`` is None for image-independent artifacts. ``anchor`` is the id of its element on its
    technique's page."""

    technique: str
    variant: str
    model: str
    image: str | None
    image_id: str | None
    spec: Mapping[str, Any]
    key: str
    cache_files: Mapping[str, str]  # role -> path relative to the cache folder
    meta: Meta
    files: Mapping[str, File] = field(default_factory=dict)  # role -> picture in the site
    anchor: str | None = None  # the id of its element on its technique's page, unique within a build
    page: str | None = None  # the site's page that shows it (a paged technique's page of its image)

    def __post_init__(self) -> None:
        object.__setattr__(self, "meta", meta_types.load(self.technique, self.meta))

    def identity(self) -> tuple:
        """What an artifact is, independent of cache key and machine."""
        return (self.technique, self.variant, self.model, self.image, json.dumps(self.spec, sort_keys=True))

    def describe(self) -> str:
        return " / ".join(str(p) for p in (self.technique, self.variant, self.model, self.image or "(per model)"))

    def raw_roles(self) -> list[str]:
        """Roles whose cached file is a raw array (kept for regression checks, never published)."""
        return sorted(role for role, path in self.cache_files.items() if path.endswith(".npy"))

    def knows(self, name: str) -> bool:
        return name in _LOOKUP_FIELDS or name in self.spec or self._fact(name) is not None

    def _fact(self, name: str) -> Any:
        return getattr(self.meta, name, None) if name in _fact_names(type(self.meta)) else None

    def value(self, name: str) -> Any:
        """A field (technique, variant, model, image), else a spec value, else a meta value."""
        if name in _LOOKUP_FIELDS:
            return getattr(self, name)
        if name in self.spec:
            return self.spec[name]
        if self._fact(name) is not None:
            return self._fact(name)
        raise UnknownName(f"{self.describe()} has no field, parameter or fact named {name!r}")

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["spec"], data["cache_files"], data["meta"] = dict(self.spec), dict(self.cache_files), self.meta.to_json()
        data["files"] = {role: file._asdict() for role, file in self.files.items()}
        if self.anchor is None:  # not published yet: the pipeline's manifest
            del data["files"], data["anchor"], data["page"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Artifact":
        values = dict(data)
        values["files"] = {role: File(**file) for role, file in values.get("files", {}).items()}
        return cls(**values)


_LOOKUP_FIELDS = ("technique", "variant", "model", "image", "image_id", "key")


def _fact_names(kind: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(kind))


def select(artifacts: Iterable[Artifact], **criteria: Any) -> list[Artifact]:
    """The artifacts whose value (``Artifact.value``) equals every criterion. A criterion that no
    artifact knows raises ``UnknownName``; artifacts that lack it simply do not match."""
    artifacts = list(artifacts)
    for name in criteria:
        if artifacts and not any(a.knows(name) for a in artifacts):
            raise UnknownName(f"no artifact has a field, parameter or fact named {name!r}")
    return [a for a in artifacts
            if all(a.knows(name) and a.value(name) == wanted for name, wanted in criteria.items())]


def find(artifacts: Iterable[Artifact], **criteria: Any) -> Artifact | None:
    """The first artifact ``select`` gives, or None."""
    found = select(artifacts, **criteria)
    return found[0] if found else None


@dataclass(frozen=True)
class Skip:
    """Something a model cannot do, declared by a technique at plan time: the whole technique
    (``variant`` empty) or one variant (a layer, a method), with the reason in one line. Reported
    in the build summary and on the technique's page; never an error."""

    technique: str
    model: str
    variant: str
    reason: str

    def __str__(self) -> str:
        what = f"{self.technique} {self.variant}" if self.variant else self.technique
        return f"skipped {what} on {self.model}: {self.reason}"


@dataclass(frozen=True)
class Section:
    """A gallery page: a technique's id, title and what it shows."""

    name: str
    title: str
    description: str


@dataclass(frozen=True)
class ModelInfo:
    """What a gallery shows of a model; its card holds the rest."""

    name: str
    weights_id: str
    untrained: bool
    input_size: int


@dataclass(frozen=True)
class ImageInfo:
    name: str
    id: str
    width: int
    height: int
    anchor: str | None = None  # set by the site, with ``file`` (its preview picture), ``thumbnail`` and ``page``
    file: File | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # boxes.json's, in this picture's pixels
    label: str | int | None = None  # labels.json's class (index or category name)
    thumbnail: File | None = None  # its small picture on the contact sheet
    page: str | None = None  # its own page: every technique and model on it

    def to_json(self) -> dict[str, Any]:
        data = {"name": self.name, "id": self.id, "width": self.width, "height": self.height}
        if self.boxes:
            data["boxes"] = [list(box) for box in self.boxes]
        if self.label is not None:
            data["label"] = self.label
        if self.file is not None:
            data.update(anchor=self.anchor, file=self.file._asdict())
        if self.thumbnail is not None:
            data.update(thumbnail=self.thumbnail._asdict(), page=self.page)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageInfo":
        values = dict(data)
        for name in ("file", "thumbnail"):
            if values.get(name) is not None:
                values[name] = File(**values[name])
        values["boxes"] = tuple(tuple(box) for box in values.get("boxes", ()))
        return cls(**values)


@dataclass(frozen=True)
class Manifest:
    """Every artifact of a build and what it was built with."""

    reportgen: str
    preset: str
    overrides: Mapping[str, Mapping[str, Any]]
    weights: str
    versions: Mapping[str, str]
    techniques: Sequence[str]
    sections: Sequence[Section]
    models: Sequence[ModelInfo]
    images: Sequence[ImageInfo]
    artifacts: Sequence[Artifact]
    skips: Sequence[Skip] = ()  # what models could not do, by technique

    def skipped(self, technique: str) -> list[Skip]:
        """The skips of one technique, in build order."""
        return [s for s in self.skips if s.technique == technique]

    def of(self, technique: str) -> list[Artifact]:
        """The artifacts of one technique, in build order."""
        known = {a.technique for a in self.artifacts} | {s.name for s in self.sections}
        if self.artifacts and technique not in known:
            raise UnknownName(f"no technique {technique!r} in this build; it has: {', '.join(sorted(known))}")
        return [a for a in self.artifacts if a.technique == technique]

    def select(self, **criteria: Any) -> list[Artifact]:
        return select(self.artifacts, **criteria)

    @property
    def untrained(self) -> list[str]:
        return [m.name for m in self.models if m.untrained]

    def with_artifacts(self, artifacts: Sequence[Artifact], images: Sequence[ImageInfo] | None = None) -> "Manifest":
        return replace(self, artifacts=tuple(artifacts), images=tuple(self.images if images is None else images))

    def to_json(self) -> dict[str, Any]:
        return {**self._head_json(), "images": [i.to_json() for i in self.images],
                "artifacts": [a.to_json() for a in self.artifacts]}

    def _head_json(self) -> dict[str, Any]:
        """Everything but the two lists that grow with the folder."""
        return {
            "reportgen": self.reportgen,
            "preset": self.preset,
            "overrides": {t: dict(v) for t, v in self.overrides.items()},
            "weights": self.weights,
            "versions": dict(self.versions),
            "techniques": list(self.techniques),
            "sections": [vars(s).copy() for s in self.sections],
            "models": [vars(m).copy() for m in self.models],
            **({"skips": [vars(s).copy() for s in self.skips]} if self.skips else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Manifest":
        return cls(
            reportgen=data["reportgen"],
            preset=data["preset"],
            overrides={t: dict(v) for t, v in data["overrides"].items()},
            weights=data["weights"],
            versions=dict(data["versions"]),
            techniques=tuple(data["techniques"]),
            sections=tuple(Section(**s) for s in data["sections"]),
            models=tuple(ModelInfo(**m) for m in data["models"]),
            images=tuple(ImageInfo.from_json(i) for i in data["images"]),
            artifacts=tuple(Artifact.from_json(a) for a in data["artifacts"]),
            skips=tuple(Skip(**s) for s in data.get("skips", ())),
        )
