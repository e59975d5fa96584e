"""The contract every technique follows, and the registry that collects them.

A technique is one file: a frozen ``Params`` dataclass (with per-preset values), a ``plan`` that
turns parameters + a model card + images into ``Request``s (one per artifact, each carrying a
frozen request dataclass whose keyed fields are its cache key: ``request_of``), and a ``compute``
that turns the requests the cache misses into ``Result``s, whose ``meta`` is the technique's typed
``Meta`` and whose files are named by its ``Roles``. The class is the only place that says what
the technique is: besides those, what its page shows (``view``, ``template``), its captions on an
input's page, and how the regression check judges it (``optimises``, ``chaotic_styles``); the
site, the check and ``reportgen.core.meta`` read them from the registry. Planning and everything the
site reads never touch torch, so a warm rebuild can decide that everything is cached without
loading a model, and the site renders without torch. ``plan`` and ``compute`` have one signature
for every technique; what a technique may need from others comes in its ``Context``.
"""
from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

from markupsafe import Markup

# Request and Result live in reportgen.core.artifacts, PRESETS and ParamError in reportgen.core.choices; they
# are named here too because every technique already imports this module.
from reportgen.core.artifacts import Request, Result, Skip, not_keyed, request_of  # noqa: F401  (techniques declare fields with it)
from reportgen.core.batching import batched  # noqa: F401  (techniques batch their requests)
from reportgen.core.choices import PRESETS, ParamError, check_choice  # noqa: F401
from reportgen.core.meta import declare
from reportgen.techniques.shared_view import ImageRow

if typing.TYPE_CHECKING:  # imported for annotations only: planning must stay torch-free
    from reportgen.core.artifacts import Artifact, Manifest, ModelInfo
    from reportgen.core.cache import Entry
    from reportgen.pictures.images import InputImage
    from reportgen.models import LoadedModel, ModelCard
    from reportgen.core.progress import Progress


def _nothing_cached(key: str) -> "Entry | None":
    return None


@dataclasses.dataclass(frozen=True)
class Context:
    """What a technique gets besides its own parameters, the same for every technique. ``upstream``:
    at plan time, the planned (request, key) pairs of the technique it ``reads`` (of the same model;
    empty for the others); the keys ``compute`` needs are in its own requests, since they are what
    its artifacts depend on. ``read``: the cache's entry of a key (None: not cached)."""

    upstream: "Sequence[tuple[Request, str]]" = ()
    read: "Callable[[str], Entry | None]" = _nothing_cached


NO_CONTEXT = Context()


class Unsupported(Exception):
    """Raised by ``plan`` when the model cannot do this technique at all (no convolution for
    ``filters``...): the build skips it with this one-line reason and goes on (not an error)."""


class Technique:
    """Base class. Subclasses set the class attributes and implement ``plan`` and ``compute``.

    What a model cannot do is declared at plan time, never raised from ``compute``: ``plan`` raises
    ``Unsupported(reason)`` for the whole technique, or returns ``self.skip(card, variant, reason)``
    among its requests for one variant (a layer without a map, Grad-CAM without a map layer)."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    # The classic it reproduces, with the paper ("Zeiler & Fergus 2014, ..."): the overview names it.
    classic: ClassVar[str] = ""
    version: ClassVar[int] = 1
    Params: ClassVar[type]
    # What ``compute`` reports: its ``Result.meta`` type (a ``reportgen.core.meta.Meta``, or a union of
    # them: the JSON's fields tell which) and its roles' names.
    Meta: ClassVar[Any]
    Roles: ClassVar[type]
    # Values that differ from the Params defaults, per preset name ("standard" = the defaults).
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    # False: ``plan`` gets no images, every artifact is keyed per model (filters, class ascent).
    per_image: ClassVar[bool] = True
    # False for techniques that feed every page (predictions) rather than a gallery section.
    gallery: ClassVar[bool] = True
    # Another technique whose artifacts this one reads (faithfulness scores saliency's maps): it is
    # planned first (also when not asked for), its planned (request, key) pairs of the same model
    # reach ``plan`` as ``context.upstream``, and its misses are computed in an earlier wave, so
    # that ``compute`` can ``context.read`` their cache entries by key.
    reads: ClassVar[str] = ""
    # Its page's template (``view`` fills it): a name in reportgen's templates, or in the folder of
    # the module that defines the technique. Empty: ``sections/<name>.html``.
    template: ClassVar[str] = ""
    # Whether it optimises a picture step by step: rounding differences between CPUs grow with the
    # steps, so its regression check compares what the optimisation reached, not pixel for pixel.
    optimises: ClassVar[bool] = False
    # Styles (``meta.style``) whose single runs end at other optima under other CPU kernels
    # (measured): their regression check judges each run loosely and each set by its means.
    chaotic_styles: ClassVar[tuple[str, ...]] = ()
    # Raw roles that hold points of an embedding (N x 2), whose layout turns, mirrors and drifts under
    # other CPU kernels: the regression check compares which points are each point's nearest
    # neighbours (``Tolerance.neighbours``), and where those hold, not the pictures drawn from them.
    neighbourhoods: ClassVar[tuple[str, ...]] = ()
    # The fewest inputs its artifacts say anything about (a map of the folder): ``plan`` skips the
    # technique with one line below it; registry-wide tests give it that many.
    min_inputs: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("template") and "name" in cls.__dict__:
            cls.template = f"sections/{cls.name}.html"

    @classmethod
    def template_folder(cls) -> Path:
        """The folder of the module that defines the technique: the site looks for its template there
        too, after reportgen's templates."""
        return Path(typing.cast(str, sys.modules[cls.__module__].__file__)).resolve().parent

    def chaotic(self, meta: Any) -> bool:
        """Whether an artifact with this meta is one of the chaotic runs (``chaotic_styles``)."""
        return getattr(meta, "style", None) in self.chaotic_styles

    def default_layers(self, params: Any, card: "ModelCard") -> list[str]:
        """The layers it picks when none is set (``reportgen list layers``); none by default."""
        return []

    def view(self, manifest: "Manifest", artifacts: "Sequence[Artifact]") -> dict[str, Any]:
        """What its page shows besides its artifacts (the template's context), built in Python so
        that the template only lays out. Torch-free: the site calls it."""
        return {}

    def image_rows(self, shown: "Sequence[Artifact]", models: "Sequence[ModelInfo]") -> list[ImageRow]:
        """Its part of an input's page: a row per variant, a cell per model."""
        per_model = [[a for a in shown if a.model == model.name] for model in models]
        variants = list(dict.fromkeys(a.variant for a in shown))
        return [ImageRow(self.variant_title(next(a for a in shown if a.variant == variant)),
                         [next((a for a in mine if a.variant == variant), None) for mine in per_model])
                for variant in variants]

    def variant_title(self, artifact: "Artifact") -> str:
        """The title of an artifact's row on an input's page."""
        return artifact.variant

    def caption(self, artifact: "Artifact") -> str | Markup:
        """The line under an artifact on an input's page (empty: none); HTML only as ``Markup``."""
        return ""

    def input_note(self, artifact: "Artifact", own: "Sequence[Artifact]") -> str | Markup:
        """A line this technique adds under an artifact of the technique it ``reads``, on that
        artifact's input page, drawn from its own artifacts ``own`` (empty: none)."""
        return ""

    def params_for(self, preset: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The Params of a preset with ``--set`` overrides applied (overrides already typed)."""
        values = dict(self.presets.get(preset, {}))
        values.update(overrides or {})
        return self.Params(**values)

    def plan(self, params: Any, card: "ModelCard", images: "list[InputImage]",
             context: Context = NO_CONTEXT) -> list[Request | Skip]:
        """A request per artifact (its ``args`` one of the technique's request types), or a ``skip``."""
        raise NotImplementedError

    def gflop(self, params: Any, card: "ModelCard", requests: "Sequence[Request]") -> float:
        """The counted GFLOP of computing ``requests`` (what ``plan`` sized; ``build --dry-run`` shows
        it, reportgen/core/budget.py turns it into seconds): by default one forward per input image
        they read, none for an artifact that reads no image (filters)."""
        return card.gflops * len(images_read(requests))

    def skip(self, card: "ModelCard", variant: str, reason: str) -> Skip:
        """A variant this model cannot do (``variant`` empty: the whole technique), for ``plan`` to return."""
        return Skip(self.name, card.name, variant, reason)

    def compute(
        self,
        params: Any,
        model: "LoadedModel",
        requests: list[Request],
        progress: "Progress",
        context: Context = NO_CONTEXT,
    ) -> Iterator[tuple[Request, Result]]:
        """Yield a Result for every request. Batch freely; yield as soon as a result is ready.
        ``context.read``: the cache entry of a key from ``context.upstream``."""
        raise NotImplementedError


def images_read(requests: "Sequence[Request]") -> set[str]:
    """The pixel hashes of the input images ``requests`` read (their ``image`` and ``inputs``)."""
    return {image.pixel_hash for request in requests
            for image in (*([request.image] if request.image is not None else []), *request.inputs)}


# --- parsing ``--set technique.param=value`` -------------------------------------------------


def parse_param(params_cls: type, name: str, text: str) -> Any:
    """Turn the text of ``--set technique.name=text`` into a value of the field's declared type."""
    hints = typing.get_type_hints(params_cls)
    check_choice("parameter", name, [f.name for f in dataclasses.fields(params_cls)])
    try:
        return _parse(hints[name], text.strip())
    except ValueError as error:
        raise ParamError(f"bad value {text!r} for {name}: {error}") from None


def _parse(kind: Any, text: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        (item, *_rest) = typing.get_args(kind)
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return tuple(_parse(item, p) for p in parts)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse(options[0], text)
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if kind in (int, float, str):
        return kind(text)
    raise ValueError(f"cannot parse a value of type {kind}")


# --- the registry ----------------------------------------------------------------------------

_REGISTRY: dict[str, Technique] = {}


def register(cls: type[Technique]) -> type[Technique]:
    """Class decorator: make a technique available to the pipeline, CLI and registry-wide tests."""
    if cls.name in _REGISTRY:
        raise ValueError(f"technique {cls.name!r} registered twice")
    declare(cls.name, cls.Meta)
    _REGISTRY[cls.name] = cls()
    return cls


def registry() -> dict[str, Technique]:
    """All techniques, in the gallery's order (README, What it shows), then those of installed
    packages (``reportgen.interface.plugins``), whose saliency methods are registered first."""
    from reportgen.interface import plugins  # noqa: F401  importing the package registers every technique
    from reportgen import techniques
    from reportgen.attribution import methods

    plugins.add(plugins.SALIENCY_METHODS, methods.SaliencyMethod, methods.register, methods.METHODS)
    plugins.add(plugins.TECHNIQUES, Technique, register, _REGISTRY)
    return dict(_REGISTRY)
