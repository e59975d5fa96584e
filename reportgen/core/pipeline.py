"""Plan models x images x techniques, compute only what the cache misses, write the manifest.

Two phases, as in a static-site generator: first everything is planned and validated (names of
models and techniques before the input folder is read; bad layers, classes and parameters before
any work; the cache folder is made only once there is something to keep), then the misses are
computed model by model. ``dry_run`` stops after the first phase and says what the second would
do, without weights or arithmetic. A model is loaded only if one of its artifacts is missing, so a
warm rebuild never imports torch. A technique that fails is reported in one line and the rest of the build goes on. What a
model cannot do is declared by its technique at plan time (``Unsupported``, ``Technique.skip``):
reported in one line each and in the manifest, never an error.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reportgen import __version__
from reportgen.core.artifacts import Artifact, ImageInfo, Manifest, ModelInfo, Section, Skip
from reportgen.attribution.methods import METHODS
from reportgen.core.cache import Cache, CacheError, Entry, cache_key
from reportgen.core.code_identity import code_identity
from reportgen.core.choices import ParamError, check_choices
from reportgen.interface.config import BuildConfig
from reportgen.techniques.dataset_examples import public_overrides
from reportgen.pictures.images import InputImage, Skipped
from reportgen.pictures.input_folder import load_folder
from reportgen.models import ModelCard, ModelError, card_for, check_name, package_version
from reportgen.models.describe import cached_card, sketch_card
from reportgen.models.declared import declare
from reportgen.core.progress import Progress
from reportgen.gallery.summaries import checked_labels
from reportgen.techniques.base import Context, Request, Technique, Unsupported, registry


log = logging.getLogger("reportgen")


class BuildError(Exception):
    """The build cannot start; the message is for a person."""


@dataclass(frozen=True)
class Planned:
    technique: Technique
    model: str
    request: Request
    key: str


@dataclass
class BuildReport:
    manifest: Manifest = field(init=False)  # written last, once every artifact is in the cache
    images: list[InputImage] = field(default_factory=list)
    computed: int = 0
    cached: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    log: Path | None = None  # the tracebacks of failed techniques, written only when one failed
    unsupported: list[Skip] = field(default_factory=list)  # what models cannot do, declared at plan time

    @property
    def total(self) -> int:
        return self.computed + self.cached

    def summary(self) -> str:
        line = f"{self.total} artifacts: {self.computed} computed, {self.cached} cached"
        return line + (f"; {len(self.unsupported)} skipped (not supported by the model)" if self.unsupported else "")


@dataclass
class Plan:
    """The first phase's result: what would be computed and what the cache holds (``entries``)."""

    techniques: list[Technique]
    params: dict[str, Any]
    images: list[InputImage]
    skipped: list[Skipped]
    cards: dict[str, ModelCard]
    planned: list[Planned]
    unsupported: list[Skip]
    entries: dict[str, Entry]
    code: str  # the code identity every key covers (code_identity)
    animation: str  # the format animations are written in, which the keys of those holding one cover
    sketched: list[str] = field(default_factory=list)  # models whose card a dry run sketched (none was cached)

    @property
    def misses(self) -> list[Planned]:
        return [item for item in self.planned if item.key not in self.entries]


def build(config: BuildConfig, progress: Progress) -> BuildReport:
    """Run every technique through the cache and return the manifest (the site is written apart)."""
    plan = make_plan(config)
    cache = Cache(config.cache_dir, config.animation)
    try:
        cache.claim()
    except CacheError as error:
        raise BuildError(str(error)) from None
    cache.sweep()
    entries, misses, planned, unsupported = dict(plan.entries), plan.misses, list(plan.planned), list(plan.unsupported)
    report = BuildReport(images=plan.images, cached=len(entries), skipped=plan.skipped, unsupported=unsupported)
    log.info("%d artifacts planned: %d in the cache, %d to compute", len(planned), len(entries), len(misses))

    def readers_of_what_exists(model: str) -> list[Planned]:
        """Once the model's other jobs are done: its readers planned again where some artifact they
        read failed (so that their keys cover what they read), and those of them not in the cache."""
        nonlocal planned
        planned, skips = _reading_what_exists(planned, entries, plan, cache.get, model)
        for skip in skips:
            log.warning(str(skip))
        unsupported.extend(skips)
        todo = []
        for item in (p for p in planned if p.model == model and p.technique.reads and p.key not in entries):
            entry = cache.get(item.key)
            if entry is None:
                todo.append(item)
            else:
                entries[item.key] = entry
                report.cached += 1
        return todo

    if misses:
        _compute(misses, readers_of_what_exists, plan.cards, plan.params, config, cache, entries, report, progress)
    report.manifest = _manifest(config, cache, plan.cards, plan.images, planned, entries, unsupported)
    return report


def make_plan(config: BuildConfig, dry: bool = False) -> Plan:
    """The first phase: names checked, then inputs read, cards, requests and keys, cache hits.
    ``dry``: nothing is downloaded, built with weights or written (an uncached card is sketched),
    and a hit is not counted as a use."""
    techniques = check_names(config)
    cache = Cache(config.cache_dir, config.animation)
    try:
        cache.check_usable()
    except CacheError as error:
        raise BuildError(str(error)) from None
    params = {t.name: t.params_for(config.preset, config.overrides.get(t.name)) for t in techniques}
    if not config.input_dir.is_dir():
        raise BuildError(f"input folder {config.input_dir} does not exist or is not a folder")
    images, skipped = load_folder(config.input_dir, config.follow_links)
    for item in skipped:
        log.warning(str(item))
    if config.strict and skipped:
        raise BuildError(f"{len(skipped)} input(s) skipped and --strict is set")
    if not images:
        raise BuildError(f"no usable images in {config.input_dir}")

    cards, sketched = {}, []
    for name in config.models:
        card = _cached_card(name, config.weights, cache) if dry else None
        if dry and card is None:
            sketched.append(name)
        cards[name] = card or _card(name, config.weights, cache, sketch=dry)
    images, unknown_labels = checked_labels(images, cards.values())
    for item in unknown_labels:
        log.warning(str(item))
    if config.strict and unknown_labels:
        raise BuildError(f"{len(unknown_labels)} label(s) skipped and --strict is set")
    skipped += unknown_labels
    planned: list[Planned] = []
    unsupported: list[Skip] = []
    # The code that computes: reportgen's, and the files of techniques and methods registered from elsewhere
    code = code_identity([type(t) for t in registry().values()] + [type(m) for m in METHODS.values()])
    look = (lambda key: cache.get(key, use=False)) if dry else cache.get
    for name in config.models:
        mine, skips = _plan(techniques, params, cards[name], images, look, code, config.animation)
        planned += mine
        unsupported += skips
    for skip in unsupported:
        log.warning(str(skip))
    entries = {item.key: entry for item in planned if (entry := look(item.key)) is not None}
    return Plan(techniques, params, images, skipped, cards, planned, unsupported, entries, code, config.animation,
                sketched)


def check_names(config: BuildConfig) -> list[Technique]:
    """The techniques to run, once every technique and model name is known (a user's declared
    models registered; a model whose card is cached is known by it): an unknown name is reported
    before the input folder is read."""
    techniques = _techniques(config)
    cache = Cache(config.cache_dir, config.animation)
    try:
        for name, model in config.user_models.items():
            declare(name, model)
        for name in config.models:
            if cached_card(name, config.weights, cache) is None:
                check_name(name)
    except (ModelError, ParamError) as error:
        raise BuildError(str(error)) from None
    return techniques


def _techniques(config: BuildConfig) -> list[Technique]:
    available = registry()
    check_choices("technique", config.techniques, available)
    hidden = [t for t in available.values() if not t.gallery]  # predictions feed every page
    chosen = {n for n in config.techniques if available[n].gallery}
    chosen |= {available[n].reads for n in chosen if available[n].reads}  # computed, shown only if asked for
    return hidden + [t for t in available.values() if t.name in chosen]


def _card(name: str, weights: str, cache: Cache, sketch: bool = False) -> ModelCard:
    try:
        return sketch_card(name, weights) if sketch else card_for(name, weights, cache)
    except (ModelError, ParamError) as error:
        raise BuildError(str(error)) from None


def _cached_card(name: str, weights: str, cache: Cache) -> ModelCard | None:
    try:
        return cached_card(name, weights, cache)
    except (ModelError, ParamError) as error:
        raise BuildError(str(error)) from None


def _plan(techniques: list[Technique], params: dict[str, Any], card: ModelCard, images: list[InputImage],
          read: Callable[[str], Entry | None], code: str, animation: str,
          before: list[Planned] | None = None) -> tuple[list[Planned], list[Skip]]:
    """Each technique's requests on one model, keyed; ``before``: artifacts planned already that
    a technique may read."""
    planned: list[Planned] = []
    skips: list[Skip] = []
    for technique in techniques:
        upstream = tuple((p.request, p.key) for p in [*(before or []), *planned]
                         if technique.reads and p.technique.name == technique.reads)
        try:
            requests = technique.plan(params[technique.name], card, images if technique.per_image else [],
                                      Context(upstream, read))
        except Unsupported as unsupported:
            skips.append(technique.skip(card, "", str(unsupported)))
            continue
        except (ModelError, ValueError, KeyError) as error:
            message = error.args[0] if error.args else str(error)
            raise BuildError(f"{technique.name} on {card.name}: {message}") from None
        skips += [r for r in requests if isinstance(r, Skip)]
        for request in (r for r in requests if not isinstance(r, Skip)):
            image_hash = request.image.pixel_hash if request.image is not None else None
            key = cache_key(technique.name, technique.version, request.spec, card.identity, image_hash, request.reads,
                            code, animation if request.animated else None)
            planned.append(Planned(technique, card.name, request, key))
    return planned, skips


def _reading_what_exists(planned: list[Planned], entries: dict[str, Entry], plan: Plan,
                         read: Callable[[str], Entry | None], model: str) -> tuple[list[Planned], list[Skip]]:
    """``planned`` with each reader technique on ``model`` that reads an artifact which did not come
    to be (a failed saliency method's maps) planned again from the artifacts that exist: it then
    works with what exists, and its key covers exactly that."""
    def missing(item: Planned) -> bool:
        reads = item.request.reads.values()
        return any(key not in entries for value in reads for key in ([value] if isinstance(value, str) else value))

    again = {(item.technique, item.model) for item in planned
             if item.model == model and item.technique.reads and missing(item)}
    kept: list[Planned] = []
    skips: list[Skip] = []
    replanned: set[tuple[Technique, str]] = set()
    for item in planned:
        if (item.technique, item.model) not in again:
            kept.append(item)
        elif (item.technique, item.model) not in replanned:  # planned again where its first request was
            replanned.add((item.technique, item.model))
            existing = [p for p in planned if p.model == item.model and p.technique.name == item.technique.reads
                        and p.key in entries]
            again_planned, skipped = _plan([item.technique], plan.params, plan.cards[item.model], plan.images, read,
                                           plan.code, plan.animation, existing)
            kept += again_planned
            skips += skipped
    return kept, skips


def _compute(misses, readers, cards, params, config, cache, entries, report, progress) -> None:
    """Compute the ``misses``, each model loaded once: the techniques that read no other's
    artifacts, then the model's readers as ``readers(model)`` gives them once those are done."""
    from reportgen.core.executors import ExecutorError, Job, executor_for
    from reportgen.models import require_weights

    def jobs(todo: list[Planned]) -> list[Job]:
        made = []
        for technique in dict.fromkeys(m.technique for m in todo):
            mine = [m for m in todo if m.technique is technique]
            made.append(Job(mine[0].model, technique.name, tuple(m.request for m in mine), tuple(m.key for m in mine)))
        return made

    def first(model: str) -> list[Job]:
        return jobs([m for m in misses if m.model == model and not m.technique.reads])

    def then(model: str) -> list[Job]:
        return jobs(readers(model))

    try:
        for name in dict.fromkeys(m.model for m in misses):
            require_weights(cards[name])
        executor = executor_for(config.executor, config.ray_address, config.ray_workers, config.user_models)
        models = list(dict.fromkeys(m.model for m in misses))
        for done in executor.run(models, (first, then), cards, params, config.device, cache, progress):
            entries.update(done.stored)
            report.computed += len(done.stored)
            if done.error is not None:
                report.log = _log_failure(cache, report.log, done.error)
                line = f"error: {done.job.technique} on {done.job.model} failed: {done.summary} (traceback in {report.log})"
                report.errors.append(line)
                log.error(line)
    except (ModelError, ParamError, ExecutorError) as error:
        raise BuildError(str(error)) from None


def _log_failure(cache: Cache, log: Path | None, text: str) -> Path:
    """Append a traceback to this build's log under the cache (one file per build, made on the
    first failure), so a person sees one line on the terminal and the details stay findable."""
    if log is None:
        log = cache.new_log()
    with open(log, "a", encoding="utf-8") as stream:
        stream.write(text.rstrip() + "\n\n")
    return log


def _manifest(config, cache, cards, images, plan, entries, skips=()) -> Manifest:
    """Every artifact that exists, with its full parameters, and what the build was made with."""
    artifacts = []
    shown = set(config.techniques) | {name for name, t in registry().items() if not t.gallery}
    for item in plan:
        entry = entries.get(item.key)
        if entry is None or item.technique.name not in shown:  # failed (reported already), or only read
            continue
        image = item.request.image
        artifacts.append(Artifact(
            technique=item.technique.name,
            variant=item.request.variant,
            model=item.model,
            image=image.name if image is not None else None,
            image_id=image.id if image is not None else None,
            spec=dict(item.request.spec),
            key=item.key,
            cache_files=cache.relative_files(entry),
            meta=entry.meta,
        ))
    return Manifest(
        reportgen=__version__,
        preset=config.preset,
        overrides={t: dict(sorted(p.items())) for t, p in sorted(public_overrides(config.overrides).items())},
        weights=config.weights,
        versions={p: package_version(p) for p in ("torch", "torchvision", "timm", "numpy", "pillow")},
        techniques=tuple(config.techniques),
        sections=tuple(Section(t.name, t.title, t.description) for t in registry().values() if t.name in config.techniques),
        models=tuple(ModelInfo(c.name, c.weights_id, c.untrained, c.input_size) for c in cards.values()),
        images=tuple(ImageInfo(i.name, i.id, i.size[0], i.size[1], boxes=i.boxes) for i in images),
        artifacts=tuple(artifacts),
        skips=tuple(s for s in skips if s.technique in config.techniques),
    )
