"""Manifest + cached files -> the static gallery. Never imports torch.

The site is written into a staging folder beside ``out`` and swapped in whole, so a visitor (or
GitHub Pages) never sees a half-written gallery. Links are relative, so it works from disk and
from any sub-path. Output is byte-identical for identical inputs: no timestamps, sorted data.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Iterator

import jinja2
import numpy as np
from PIL import Image

from reportgen.gallery import formats, views
from reportgen.pictures import render
from reportgen.gallery.page_views import context
from reportgen.techniques.base import registry
from reportgen.techniques.shared_view import fitted, slug
from reportgen.core.artifacts import Artifact, File, Manifest
from reportgen.pictures.images import InputImage
from reportgen.core.staging import replace_folder, replaceable

MARKER = ".reportgen-site"  # present in every folder reportgen wrote; others are never replaced
INPUT_PREVIEW_PX = 480
THUMBNAIL_PX = 160  # the contact sheet's pictures
PAGES_SOFT_LIMIT_MB = 800  # GitHub Pages sites may be at most 1 GB
PAGES_FILE_LIMIT_MB = 100
PACKAGE_FOLDER = Path(__file__).resolve().parent.parent  # reportgen/


class SiteError(Exception):
    """The site cannot be written where asked; the message is for a person."""


def templates_dir() -> Path:
    """The installed package's templates, or the checkout's when reportgen runs uninstalled."""
    try:
        return Path(str(resources.files("reportgen.templates")))
    except ModuleNotFoundError:
        return PACKAGE_FOLDER.parent / "templates"


def template_folders() -> list[Path]:
    """Where page templates are looked up: reportgen's templates, then the folder of each registered
    technique's module (a technique from outside the package keeps its template beside its code)."""
    folders = [templates_dir()]
    for technique in registry().values():
        folder = technique.template_folder()
        if folder not in folders and not folder.is_relative_to(PACKAGE_FOLDER):
            folders.append(folder)
    return folders


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_folders()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # a build renders thousands of pages from templates that do not change meanwhile
    )
    # Numbers a template shows as they are (a model's top classes; a plugin's measures) are written
    # by the same functions as the views' labels.
    env.filters["percent"] = formats.percent
    env.filters["probability"] = formats.probability
    env.filters["number"] = formats.measure
    env.globals["fitted"] = fitted
    return env


def check_out_folder(out: Path) -> None:
    """Refuse to replace a folder that reportgen did not create (it may hold a user's files)."""
    if not replaceable(out, MARKER):
        raise SiteError(
            f"{out} exists and is not a reportgen site (no {MARKER} inside); "
            "choose another --out or empty it first"
        )


def write_site(manifest: Manifest, cache_dir: Path, images: list[InputImage], out: Path,
               paging: views.Paging = views.Paging()) -> Manifest:
    """Write the gallery for ``manifest`` into ``out`` (swapped in whole). Returns the site's manifest."""
    check_out_folder(out)

    def fill(staging: Path) -> Manifest:
        site = _gather(manifest, Path(cache_dir), images, staging, views.Layout(manifest, paging))
        _write_pages(views.Layout(site, paging), staging)
        return site

    return replace_folder(out.resolve(), fill, SiteError)


def _gather(manifest: Manifest, cache_dir: Path, images: list[InputImage], staging: Path, layout: views.Layout) -> Manifest:
    """Copy pictures out of the cache and describe them with their sizes, anchors and pages."""
    manifest = Manifest.from_json(json.loads(json.dumps(manifest.to_json())))  # JSON-clean values
    by_name = {image.name: image for image in images}
    previews = []
    for info in manifest.images:
        image = by_name[info.name]
        preview = render.fit_within(np.asarray(image.pixels), INPUT_PREVIEW_PX)
        thumbnail = render.fit_within(preview, THUMBNAIL_PX)
        path, small = f"inputs/{info.id}.png", f"inputs/{info.id}-thumbnail.png"
        _write(staging / path, render.png_bytes(preview))
        _write(staging / small, render.png_bytes(thumbnail))
        previews.append(replace(info, anchor=f"input-{info.id}", label=image.label, page=views.image_page(info.id),
                                file=File(path, preview.shape[1], preview.shape[0]),
                                thumbnail=File(small, thumbnail.shape[1], thumbnail.shape[0])))
    anchors: set[str] = set()
    artifacts = []
    for artifact in manifest.artifacts:
        base = slug("-".join(str(p) for p in (artifact.technique, artifact.model, artifact.image_id or "all", artifact.variant)))
        anchor, number = base, 2
        while anchor in anchors:
            anchor, number = f"{base}-{number}", number + 1
        anchors.add(anchor)
        artifacts.append(replace(artifact, files=_copy_pictures(artifact, cache_dir, staging), anchor=anchor,
                                 page=layout.home(artifact)))
    return manifest.with_artifacts(artifacts, previews)


def _copy_pictures(artifact: Artifact, cache_dir: Path, staging: Path) -> dict[str, File]:
    files = {}
    for role, relative in artifact.cache_files.items():
        if relative.endswith(".npy"):
            continue  # raw arrays stay in the cache: they are for regression checks, not visitors
        path = f"a/{artifact.key[:2]}/{artifact.key[:24]}/{Path(relative).name}"
        target = staging / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache_dir / relative, target)
        with Image.open(target) as picture:
            files[role] = File(path, picture.width, picture.height)
    return files


def pages(layout: views.Layout) -> Iterator[tuple[str, bytes]]:
    """Every page of the site as (path, HTML), rendered one at a time when asked for."""
    env = environment()
    chrome = layout.chrome()

    def render_page(template: str, view: object) -> bytes:
        return env.get_template(template).render(context(chrome, view)).encode("utf-8")

    for sheet in layout.sheet.pages():
        yield sheet.path, render_page("index.html" if sheet.number == 1 else "inputs.html", layout.index(sheet))
    for section in layout.manifest.sections:
        for page, section_view in layout.section(section.name):
            yield page.path, render_page(registry()[section.name].template, section_view)
    for index, image in enumerate(layout.manifest.images):
        yield views.image_page(image.id), render_page("image.html", layout.image(index))
    for page, misses_view in layout.misses_pages():
        yield page.path, render_page("misses.html", misses_view)


def _write_pages(layout: views.Layout, staging: Path) -> None:
    """Write each page as it is rendered: no more than one page's HTML is held at once."""
    for path, html in pages(layout):
        _write(staging / path, html)
    _write(staging / "style.css", (templates_dir() / "style.css").read_bytes())
    _write(staging / ".nojekyll", b"")
    with open(staging / "manifest.json", "w", encoding="utf-8") as stream:  # as Manifest.dumps, without the whole text
        json.dump(layout.manifest.to_json(), stream, indent=1, sort_keys=True)
    _write(staging / MARKER, b"written by reportgen; the whole folder is replaced on every build\n")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def size_summary(out: Path) -> tuple[str, list[str]]:
    """A one-line size report and warnings for GitHub Pages' limits. Files that vanish while it
    counts (another build swapping its site in) are passed over, not an error."""
    sizes = {}
    for folder, _, names in os.walk(out):  # os.walk ignores folders that are gone
        for name in names:
            path = Path(folder) / name
            try:
                sizes[path] = path.stat().st_size
            except OSError:
                continue
    total = sum(sizes.values()) / 1e6
    warnings = []
    if total > PAGES_SOFT_LIMIT_MB:
        warnings.append(f"warning: the site is {total:.0f} MB; GitHub Pages allows at most 1 GB")
    for path, size in sorted(sizes.items()):
        if size / 1e6 > PAGES_FILE_LIMIT_MB:
            warnings.append(f"warning: {path} is over {PAGES_FILE_LIMIT_MB} MB; GitHub rejects such files")
    return f"site: {len(sizes)} files, {total:.1f} MB in {out}", warnings
