"""The Python front door: ``reportgen.build``, ``reportgen.check`` and ``reportgen.update_baseline``
for notebooks and scripts.

The command line resolves its settings through the same function (``config.build_config``) and
builds through ``build_with``, so both take the same settings (a config file, then keyword
arguments over it, typed) and make the same gallery. Quiet unless asked: ``progress=True`` shows
the command line's progress on stderr, and library messages go to the ``reportgen`` logger. A build
sets torch's deterministic algorithms and reseeds its generator; the caller's settings are restored
when it ends (``global_state``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from reportgen.core.artifacts import Artifact, Manifest
from reportgen.interface.config import BuildConfig, FileSettings, build_config, load_config, setting
from reportgen.core.global_state import kept_global_state
from reportgen.core.pipeline import BuildReport

if TYPE_CHECKING:
    from reportgen.regress import Outcome


@dataclass
class Gallery:
    """A finished build: its typed manifest (as published in ``out``), where its files are, and the
    build's report (computed, cached, skipped inputs, what models cannot do, failures)."""

    manifest: Manifest
    out: Path
    cache_dir: Path
    report: BuildReport

    computed = property(lambda self: self.report.computed)
    cached = property(lambda self: self.report.cached)
    skipped = property(lambda self: self.report.skipped)  # inputs that could not be read
    unsupported = property(lambda self: self.report.unsupported)  # what a model cannot do
    errors = property(lambda self: self.report.errors)  # one line per failed technique
    log = property(lambda self: self.report.log)  # their tracebacks

    @property
    def artifacts(self) -> list[Artifact]:
        return list(self.manifest.artifacts)

    def select(self, **criteria: Any) -> list[Artifact]:
        """Artifacts matching every criterion (technique, variant, model, image, or a spec/meta
        value); a name no artifact knows raises ``UnknownName``."""
        return self.manifest.select(**criteria)

    def picture(self, artifact: Artifact, role: str) -> np.ndarray:
        """A published picture as a uint8 array (an animation: its last frame)."""
        from PIL import Image

        with Image.open(self.out / artifact.files[role].path) as picture:
            picture.seek(getattr(picture, "n_frames", 1) - 1)
            return np.asarray(picture.convert("RGB"))

    def array(self, artifact: Artifact, role: str) -> np.ndarray:
        """A raw float result, from the cache."""
        return np.load(self.cache_dir / artifact.cache_files[role], allow_pickle=False)

    def summary(self) -> str:
        return self.report.summary()

    THUMBNAILS = 4  # pictures per technique and model in a notebook's table
    THUMBNAIL_PX = 96

    def __repr__(self) -> str:
        manifest = self.manifest
        return (f"<Gallery {self.out}: {len(manifest.artifacts)} artifacts of {len(manifest.sections)} techniques, "
                f"{len(manifest.models)} models, {len(manifest.images)} images; {self.summary()}>")

    def _repr_html_(self) -> str:
        """A notebook's view: per technique (rows) and model (columns) a few thumbnails, each
        linking to its place in the gallery, rendered by ``notebook.html`` as the pages are. Paths
        are relative to the working folder, which is where a notebook's page resolves them."""
        from reportgen.gallery.site import environment

        base = Path(os.path.relpath(self.out.resolve(), Path.cwd()))
        models = [model.name for model in self.manifest.models]
        rows = [NotebookRow(section.title, (base / f"{section.name}.html").as_posix(),
                            [[self._thumbnail(base, section.name, artifact)
                              for artifact in [a for a in self.manifest.of(section.name) if a.model == model and a.files][: self.THUMBNAILS]]
                             for model in models])
                for section in self.manifest.sections]
        return environment().get_template("notebook.html").render(
            index=(base / "index.html").as_posix(), out=str(self.out), summary=self.summary(), models=models, rows=rows,
            height=self.THUMBNAIL_PX)

    def _thumbnail(self, base: Path, page: str, artifact: Artifact) -> "NotebookThumbnail":
        file = next(iter(artifact.files.values()))
        link = (artifact.page or f"{page}.html") + (f"#{artifact.anchor}" if artifact.anchor else "")
        return NotebookThumbnail((base / link).as_posix(), (base / file.path).as_posix(), artifact.describe())


@dataclass(frozen=True)
class NotebookThumbnail:
    link: str
    picture: str
    title: str


@dataclass(frozen=True)
class NotebookRow:
    """A technique's row of the notebook view: a few thumbnails per model."""

    title: str
    link: str
    cells: list[list[NotebookThumbnail]]


def build(input_dir: str | Path | None = None, *, models: Iterable[str] | str | Mapping[str, Any] | None = None,
          techniques: Iterable[str] | str | None = None, preset: str | None = None,
          overrides: Mapping[str, Mapping[str, Any]] | None = None, out: str | Path | None = None,
          cache_dir: str | Path | None = None, device: str | None = None, weights: str | None = None,
          strict: bool | None = None, examples: str | Path | None = None, executor: str | None = None,
          config: str | Path | None = None, follow_links: bool | None = None, animation: str | None = None,
          progress: bool = False) -> Gallery:
    """Build the gallery of ``input_dir`` and return it.

    ``overrides`` sets technique parameters, typed as each technique's Params declares them
    (a list for a tuple), e.g. ``{"saliency": {"methods": ["guided"]}}``;
    ``examples`` names a folder whose images give layer ascent's dataset examples (default: the
    inputs). ``follow_links`` follows links that lead out of ``input_dir`` (skipped by default,
    each named). ``animation``: ``"gif"`` or ``"webp"`` (full colour, smaller), how optimisations
    are animated. ``config`` names a config file whose settings the other arguments override. ``models``: names
    (catalogue, or declared in the config file), or a dict of name -> ``reportgen.ModelSpec`` (a
    module of yours), -> a torch module (its input size, mean and std read from timm's
    ``pretrained_cfg``: a timm model) or -> a catalogue name (built under that catalogue name). Raises
    ``reportgen.BuildError`` (or ``ParamError`` for a bad setting) when the build cannot start.
    """
    from reportgen.core.choices import ParamError
    from reportgen.models.card import ModelError
    from reportgen.models.declared import check_model_name, own_model
    from reportgen.techniques.base import registry

    specs = dict(models) if isinstance(models, Mapping) else {}
    if specs:
        models = [value if isinstance(value, str) else name for name, value in specs.items()]
    given = dict(input=input_dir, models=models, techniques=techniques, preset=preset, out=out,
                 cache_dir=cache_dir, device=device, weights=weights, strict=strict, examples=examples,
                 executor=executor, follow_links=follow_links, animation=animation)
    configured = build_config(given, _config_file(config), registry(), overrides=overrides)
    try:  # before anything is written
        own = {name: spec for name, spec in specs.items() if not isinstance(spec, str)}
        for name in own:
            check_model_name(f"models[{name!r}]", name)
        own = {name: own_model(name, spec) for name, spec in own.items()}
    except ModelError as error:
        raise ParamError(str(error)) from None
    return build_with(replace(configured, user_models={**configured.user_models, **own}), progress)


def build_with(config: BuildConfig, progress: bool | Any = False) -> Gallery:
    """Build and publish a configured gallery (``progress``: a Progress, or True for stderr's)."""
    from reportgen.core.pipeline import build as run_build
    from reportgen.core.progress import Progress, Silent
    from reportgen.gallery.site import check_out_folder, write_site

    shown = progress if isinstance(progress, Progress) else Progress() if progress else Silent()
    check_out_folder(config.out)
    try:
        with kept_global_state():
            report = run_build(config, shown)
            manifest = write_site(report.manifest, config.cache_dir, report.images, config.out)
    finally:
        shown.close()
    return Gallery(manifest, Path(config.out), Path(config.cache_dir), report)


def check(baseline_dir: str | Path, *, out: str | Path | None = None, cache_dir: str | Path | None = None,
          tolerances: Mapping[str, float] | None = None, config: str | Path | None = None) -> Outcome:
    """Compare the build in ``out`` with a baseline and write its report into ``out``; returns the
    ``Outcome`` (``passed``, ``moved``, ``appeared``, ``vanished``). ``out`` and ``cache_dir`` come
    from ``config`` (a config file) or the defaults when not given. Raises
    ``reportgen.RegressionError`` when the check cannot run (a tolerance that is not a finite,
    non-negative number, a missing or crafted baseline or build)."""
    from reportgen.regress import Tolerance, check as run_check

    tolerance = Tolerance.parse((f"{name}={value}" for name, value in (tolerances or {}).items()), "tolerances")
    site, cache = _folders(out, cache_dir, config)
    with kept_global_state():
        outcome, _ = run_check(Path(baseline_dir), site, cache, tolerance)
    return outcome


def update_baseline(baseline_dir: str | Path, *, out: str | Path | None = None, cache_dir: str | Path | None = None,
                    raw_limit_kb: float | None = None, config: str | Path | None = None) -> int:
    """Make the build in ``out`` the baseline in ``baseline_dir`` (replacing a baseline folder
    whole, refusing any other folder); returns how many artifacts it holds. Raw arrays over
    ``raw_limit_kb`` are left out (their pictures are still checked)."""
    from reportgen.regress import promote

    site, cache = _folders(out, cache_dir, config)
    with kept_global_state():
        return promote(Path(baseline_dir), site, cache, raw_limit_kb)


def _config_file(config: str | Path | None) -> FileSettings:
    return load_config(Path(config) if config is not None else None)


def _folders(out: str | Path | None, cache_dir: str | Path | None, config: str | Path | None) -> tuple[Path, Path]:
    """The build's site and cache folders: as given, else from the config file, else the defaults."""
    file, given = _config_file(config), {"out": out, "cache_dir": cache_dir}
    return Path(setting("out", given, file)), Path(setting("cache_dir", given, file))
