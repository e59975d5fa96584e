"""Manifest + cached files -> the static gallery. Never imports torch.

The site is written into a staging folder beside ``out`` and swapped in whole, so a visitor (or
GitHub Pages) never sees a half-written gallery. Links are relative, so it works from disk and
from any sub-path. Output is byte-identical for identical inputs: no timestamps, sorted data.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
import numpy as np
from PIL import Image

from reportgen import render
from reportgen.cache import sweep_abandoned, temporary_prefix
from reportgen.images import InputImage

MARKER = ".reportgen-site"  # present in every folder reportgen wrote; others are never replaced
INPUT_PREVIEW_PX = 480
PAGES_SOFT_LIMIT_MB = 800  # GitHub Pages sites may be at most 1 GB
PAGES_FILE_LIMIT_MB = 100


class SiteError(Exception):
    """The site cannot be written where asked; the message is for a person."""


def templates_dir() -> Path:
    """The installed package's templates, or the checkout's when reportgen runs uninstalled."""
    try:
        return Path(str(resources.files("reportgen.templates")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(find=find, select=select)
    env.filters["percent"] = lambda value: f"{100.0 * float(value):.1f}%"
    env.filters["number"] = lambda value, digits=3: f"{float(value):.{digits}g}"
    return env


def select(artifacts: Iterable[Mapping[str, Any]], **criteria: Any) -> list[Mapping[str, Any]]:
    """Artifacts whose fields (technique, variant, model, image) or spec values match every criterion."""
    def matches(artifact: Mapping[str, Any]) -> bool:
        for name, wanted in criteria.items():
            value = artifact[name] if name in artifact else artifact["spec"].get(name, artifact["meta"].get(name))
            if value != wanted:
                return False
        return True

    return [a for a in artifacts if matches(a)]


def find(artifacts: Iterable[Mapping[str, Any]], **criteria: Any) -> Mapping[str, Any] | None:
    found = select(artifacts, **criteria)
    return found[0] if found else None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def check_out_folder(out: Path) -> None:
    """Refuse to replace a folder that reportgen did not create (it may hold a user's files)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise SiteError(
            f"{out} exists and is not a reportgen site (no {MARKER} inside); "
            "choose another --out or empty it first"
        )


def write_site(manifest: dict[str, Any], cache_dir: Path, images: list[InputImage], out: Path) -> dict[str, Any]:
    """Write the gallery for ``manifest`` into ``out`` (swapped in whole). Returns the site's manifest."""
    check_out_folder(out)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    for stem in (f"{out.name}.staging", f"{out.name}.old"):
        sweep_abandoned(out.parent, stem)
    staging = Path(tempfile.mkdtemp(prefix=temporary_prefix(f"{out.name}.staging"), dir=out.parent))
    try:
        site_manifest = _gather(manifest, Path(cache_dir), images, staging)
        _write_pages(site_manifest, staging)
        _swap(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return site_manifest


def _gather(manifest: dict[str, Any], cache_dir: Path, images: list[InputImage], staging: Path) -> dict[str, Any]:
    """Copy pictures out of the cache and describe them with their sizes and anchors."""
    site = json.loads(json.dumps(manifest))  # a deep, JSON-clean copy
    by_name = {image.name: image for image in images}
    for entry in site["images"]:
        preview = render.fit_within(np.asarray(by_name[entry["name"]].pixels), INPUT_PREVIEW_PX)
        path = f"inputs/{entry['id']}.png"
        _write(staging / path, render.png_bytes(preview))
        entry["anchor"] = f"input-{entry['id']}"
        entry["file"] = {"path": path, "width": preview.shape[1], "height": preview.shape[0]}
    anchors: set[str] = set()
    for artifact in site["artifacts"]:
        files = {}
        for role, relative in artifact["cache_files"].items():
            if relative.endswith(".npy"):
                continue  # raw arrays stay in the cache: they are for regression checks, not visitors
            source = cache_dir / relative
            path = f"a/{artifact['key'][:2]}/{artifact['key'][:24]}/{Path(relative).name}"
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            with Image.open(target) as picture:
                files[role] = {"path": path, "width": picture.width, "height": picture.height}
        artifact["files"] = files
        base = slug("-".join(str(p) for p in (artifact["technique"], artifact["model"], artifact["image_id"] or "all", artifact["variant"])))
        anchor, number = base, 2
        while anchor in anchors:
            anchor, number = f"{base}-{number}", number + 1
        anchors.add(anchor)
        artifact["anchor"] = anchor
    return site


def _write_pages(site: dict[str, Any], staging: Path) -> None:
    env = environment()
    predictions: dict[str, dict[str, Any]] = {}
    for artifact in site["artifacts"]:
        if artifact["technique"] == "predictions":
            predictions.setdefault(artifact["model"], {})[artifact["image"]] = artifact["meta"]["top"]
    common = {
        "site": site,
        "models": site["models"],
        "images": site["images"],
        "predictions": predictions,
        "sections": site["sections"],
        "untrained": [m["name"] for m in site["models"] if m["untrained"]],
    }
    pages = {"index.html": env.get_template("index.html").render(common, page="index")}
    for section in site["sections"]:
        context = dict(common, page=section["name"], technique=section,
                       artifacts=[a for a in site["artifacts"] if a["technique"] == section["name"]])
        pages[f"{section['name']}.html"] = env.get_template(f"sections/{section['name']}.html").render(context)
    for name, html in pages.items():
        _write(staging / name, html.encode("utf-8"))
    _write(staging / "style.css", (templates_dir() / "style.css").read_bytes())
    _write(staging / ".nojekyll", b"")
    _write(staging / "manifest.json", json.dumps(site, indent=1, sort_keys=True).encode("utf-8"))
    _write(staging / MARKER, b"written by reportgen; the whole folder is replaced on every build\n")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _swap(staging: Path, out: Path, attempts: int = 20) -> None:
    """Replace ``out`` by ``staging`` with renames; the old site is removed afterwards.

    Another build may swap its own site in at the same moment: then the last one wins, whole.
    """
    old = Path(tempfile.mkdtemp(prefix=temporary_prefix(f"{out.name}.old"), dir=out.parent))
    try:
        for attempt in range(attempts):
            try:
                os.rename(out, old / str(attempt))
            except FileNotFoundError:
                pass
            try:
                os.rename(staging, out)
                return
            except OSError:  # a racing build put its site there in between: move it aside too
                continue
        raise SiteError(f"could not replace {out}: another process keeps writing it")
    finally:
        shutil.rmtree(old, ignore_errors=True)


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
