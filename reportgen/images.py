"""Find and decode input images into upright 8-bit RGB arrays, each with a content hash.

Whatever Pillow can read works: every mode is converted to RGB (transparency composited on
white, 16-bit rescaled rather than clipped, EXIF rotation applied, first frame of animations).
What cannot be read is reported as a ``Skipped`` with one line of reason, never raised.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from reportgen.errors import first_line

MAX_SIDE = 1024  # longer side after loading; larger photos are downscaled (aspect kept)
MIN_SIDE = 8  # smaller images carry too little to explain
LABELS_FILE = "labels.json"


@dataclass(frozen=True, eq=False)
class InputImage:
    """A decoded input: ``pixels`` is uint8 HxWx3 RGB; ``pixel_hash`` keys the cache."""

    name: str  # path relative to the input folder, with forward slashes
    pixels: np.ndarray
    pixel_hash: str
    label: str | int | None = None  # class pinned by labels.json (index or category name)

    @property
    def id(self) -> str:
        return self.pixel_hash[:12]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.name}: {self.reason}"


def discover(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (following links, without hidden entries), sorted."""
    found: list[Path] = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symbolic link cycle
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name == LABELS_FILE or name.upper().startswith("CREDITS"):
                continue
            path = Path(root) / name
            if path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def load_folder(folder: Path) -> tuple[list[InputImage], list[Skipped]]:
    """Load every image under ``folder``; duplicates by content are kept once.

    An optional ``labels.json`` maps file names (relative paths) to the class to explain.
    """
    labels, skipped = read_labels(folder)
    images: list[InputImage] = []
    hashes: dict[str, str] = {}
    for path in discover(folder):
        name = path.relative_to(folder).as_posix()
        loaded = load_image(path, name)
        if isinstance(loaded, Skipped):
            skipped.append(loaded)
        elif loaded.pixel_hash in hashes:
            skipped.append(Skipped(name, f"same pixels as {hashes[loaded.pixel_hash]}"))
        else:
            hashes[loaded.pixel_hash] = name
            images.append(dataclasses.replace(loaded, label=labels.get(name)))
    return images, skipped


def read_labels(folder: Path) -> tuple[dict[str, str | int], list[Skipped]]:
    path = folder / LABELS_FILE
    if not path.is_file():
        return {}, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {}, [Skipped(LABELS_FILE, f"not valid JSON ({first_line(error)})")]
    if not isinstance(data, dict) or not all(isinstance(v, (str, int)) for v in data.values()):
        return {}, [Skipped(LABELS_FILE, "expected an object mapping file names to class indices or names")]
    return {str(k): v for k, v in data.items()}, []


def load_image(path: Path, name: str) -> InputImage | Skipped:
    """Decode one file, or say in one line why it cannot be used."""
    try:
        if path.stat().st_size == 0:
            return Skipped(name, "empty file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                rgb = to_rgb(ImageOps.exif_transpose(image) or image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Skipped(name, "image is larger than Pillow's decompression-bomb limit")
    except UnidentifiedImageError:
        return Skipped(name, "not an image Pillow can read")
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        return Skipped(name, f"cannot decode ({first_line(error)})")
    if min(rgb.size) < MIN_SIDE:
        return Skipped(name, f"too small ({rgb.size[0]}x{rgb.size[1]}; at least {MIN_SIDE} px a side)")
    rgb = cap_size(rgb, MAX_SIDE)
    pixels = np.asarray(rgb, dtype=np.uint8).copy()
    pixels.setflags(write=False)
    return InputImage(name=name, pixels=pixels, pixel_hash=hash_pixels(pixels))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, compositing transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        image = Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def cap_size(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def hash_pixels(pixels: np.ndarray) -> str:
    digest = hashlib.sha256(f"{pixels.shape}".encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is reported, not half-shown
