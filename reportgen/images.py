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
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from reportgen.errors import first_line

MAX_SIDE = 1024  # longer side after loading; larger photos are downscaled (aspect kept)
MIN_SIDE = 8  # smaller images carry too little to explain
LABELS_FILE = "labels.json"
BOXES_FILE = "boxes.json"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the loaded picture


class ImageChanged(Exception):
    """An input's file no longer decodes to the pixels it was planned with; the message is for a person."""


@dataclass(frozen=True, eq=False)
class InputImage:
    """An input: ``pixels`` is uint8 HxWx3 RGB; ``pixel_hash`` keys the cache.

    ``source`` is the decoded array, or the file it is decoded from each time a technique reads
    ``pixels`` (a few recent ones are kept, ``RECENT_PIXELS``): a folder's images are planned from
    their names, hashes and sizes, so memory does not grow with the folder.
    """

    name: str  # path relative to the input folder, with forward slashes
    source: np.ndarray | Path
    pixel_hash: str
    label: str | int | None = None  # class pinned by labels.json (index or category name)
    boxes: tuple[Box, ...] = ()  # where the explained object is, from boxes.json
    shape: tuple[int, int] = (0, 0)  # (height, width), read from ``source`` when it is an array

    def __post_init__(self) -> None:
        if isinstance(self.source, np.ndarray):
            object.__setattr__(self, "shape", tuple(self.source.shape[:2]))

    @property
    def id(self) -> str:
        return self.pixel_hash[:12]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.shape[1], self.shape[0]

    @property
    def pixels(self) -> np.ndarray:
        if isinstance(self.source, np.ndarray):
            return self.source
        return RECENT_PIXELS.get(self)


class RecentPixels:
    """The last few images decoded from their files, so that the techniques reading one batch of
    images in a row decode each once; bounded in count and bytes, whatever the folder's size."""

    def __init__(self, count: int = 64, max_bytes: int = 64 * 2**20):
        self.count, self.max_bytes = count, max_bytes
        self._kept: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image: InputImage) -> np.ndarray:
        key = (str(image.source), image.pixel_hash)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        pixels = _decode_again(image)
        with self._lock:
            self._kept[key] = pixels
            while len(self._kept) > self.count or (len(self._kept) > 1 and self.held_bytes() > self.max_bytes):
                self._kept.popitem(last=False)
        return pixels

    def held_bytes(self) -> int:
        return sum(pixels.nbytes for pixels in self._kept.values())

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


RECENT_PIXELS = RecentPixels()


def _decode_again(image: InputImage) -> np.ndarray:
    """The pixels of an image loaded from a file, checked against the hash it was planned with."""
    decoded = decode(Path(image.source), image.name)
    if isinstance(decoded, Skipped):
        raise ImageChanged(f"input {image.name} can no longer be read ({decoded.reason}); build again")
    if hash_pixels(decoded) != image.pixel_hash:
        raise ImageChanged(f"input {image.name} changed on disk during the build; build again")
    return decoded


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
            if name.startswith(".") or name in (LABELS_FILE, BOXES_FILE) or name.upper().startswith("CREDITS"):
                continue
            path = Path(root) / name
            if path.is_file():
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def load_folder(folder: Path) -> tuple[list[InputImage], list[Skipped]]:
    """Load every image under ``folder``; duplicates by content are kept once.

    An optional ``labels.json`` maps file names (relative paths) to the class to explain, an
    optional ``boxes.json`` to the boxes around the object (for the pointing game).
    """
    labels, skipped = read_labels(folder)
    boxes, box_problems = read_boxes(folder)
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
            fitted, problem = fit_boxes(boxes.get(name, ()), path, loaded)
            if problem:
                box_problems.append(Skipped(BOXES_FILE, f"{name}: {problem}"))
            images.append(dataclasses.replace(loaded, label=labels.get(name), boxes=fitted))
    known = {image.name for image in images} | {s.name for s in skipped}
    box_problems += [Skipped(BOXES_FILE, f"names {name}, which is no input image") for name in boxes if name not in known]
    return images, skipped + box_problems


def read_boxes(folder: Path) -> tuple[dict[str, list[Box]], list[Skipped]]:
    """``boxes.json``: ``{"file.jpg": [x0, y0, x1, y1]}`` or a list of such boxes per file, in
    pixels of the original image (after its EXIF rotation)."""
    path = folder / BOXES_FILE
    if not path.is_file():
        return {}, []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {}, [Skipped(BOXES_FILE, f"not valid JSON ({first_line(error)})")]
    if not isinstance(data, dict):
        return {}, [Skipped(BOXES_FILE, "expected an object mapping file names to [x0, y0, x1, y1] boxes")]
    boxes, problems = {}, []
    for name, value in data.items():
        listed = value if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else [value]
        if not all(_is_box(box) for box in listed):
            problems.append(Skipped(BOXES_FILE, f"{name}: expected [x0, y0, x1, y1] with x0 < x1 and y0 < y1, or a list of them"))
            continue
        boxes[str(name)] = [tuple(float(v) for v in box) for box in listed]
    return boxes, problems


def _is_box(box: object) -> bool:
    return (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
            and box[0] < box[2] and box[1] < box[3])


def fit_boxes(boxes, path: Path, image: InputImage) -> tuple[tuple[Box, ...], str | None]:
    """Boxes in the original picture's pixels -> the loaded picture's (which may be downscaled);
    a box reaching outside the original picture is refused."""
    if not boxes:
        return (), None
    with Image.open(path) as original:
        width, height = (ImageOps.exif_transpose(original) or original).size
    for x0, y0, x1, y1 in boxes:
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            return (), f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] reaches outside the {width}x{height} image"
    scale_x, scale_y = image.size[0] / width, image.size[1] / height
    return tuple((x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y) for x0, y0, x1, y1 in boxes), None


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
    """Decode one file to hash and measure it (its pixels are decoded again when used), or say in
    one line why it cannot be used."""
    decoded = decode(path, name)
    if isinstance(decoded, Skipped):
        return decoded
    return InputImage(name=name, source=path, pixel_hash=hash_pixels(decoded), shape=decoded.shape[:2])


def decode(path: Path, name: str) -> np.ndarray | Skipped:
    """One file's upright RGB pixels (read-only), or why it cannot be used."""
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
    return pixels


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
