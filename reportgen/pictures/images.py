"""Find and decode input images into upright 8-bit RGB arrays, each with a content hash.

The raster formats in ``FORMATS`` are decoded, nothing else (no plugin that hands a file to
another program, such as EPS to Ghostscript, whatever the file's name): every mode is converted to
RGB (transparency composited on white, 16-bit rescaled rather than clipped, EXIF rotation applied,
first frame of animations). What cannot be read is reported as a ``Skipped`` with one line of
reason, never raised. Folders are walked without recursion; links that leave the folder are
skipped unless asked for.
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from PIL import BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin  # noqa: F401  (FORMATS)
from PIL import TiffImagePlugin, WebPImagePlugin  # noqa: F401

from reportgen.core.errors import first_line

MAX_SIDE = 1024  # longer side after loading; larger photos are downscaled (aspect kept)
MIN_SIDE = 8  # smaller images carry too little to explain
LABELS_FILE = "labels.json"
BOXES_FILE = "boxes.json"
# Pillow's plugins that decode inputs (imported above): raster decoders that run no other program
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF or WebP"  # FORMATS as the README names them
NOT_FOLLOWED = "link to outside the folder, not followed"
FOLLOW_HINT = " (--follow-links follows it)"
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
    if isinstance(image.source, np.ndarray):  # held in memory: nothing to decode
        return image.source
    decoded = decode(image.source, image.name)
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


def discover(folder: Path, follow_links: bool = False, hint: str = "") -> tuple[list[Path], list[Skipped]]:
    """Every regular file under ``folder`` without hidden entries, sorted by relative name, and the
    links skipped: one leaving ``folder`` unless ``follow_links`` (its reason ends with ``hint``),
    and one whose target is missing.

    Walked depth first in name order with a stack, not recursion, so that any depth works; a
    folder reached again through a link (a cycle, or a second way in) is walked once, under the
    name it is first reached by.
    """
    root = os.path.realpath(folder)
    found: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    pending = [(Path(folder), root)]  # (folder as named from ``folder``, its real path)
    while pending:
        directory, real_directory = pending.pop()
        if real_directory in seen:
            continue
        seen.add(real_directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            skipped.append(Skipped(relative_name(directory, folder) + "/", f"cannot be listed ({first_line(error)})"))
            continue
        folders = []
        for entry in entries:
            if entry.name.startswith(".") or (_is_side_file(entry.name) and not entry.is_dir()):
                continue
            path = directory / entry.name
            if entry.is_symlink():
                real = _link_target(path)
                if real is None or not os.path.exists(real):
                    skipped.append(Skipped(relative_name(path, folder), "link to nothing (a missing or unresolvable target)"))
                    continue
                if not follow_links and not _inside(root, real):
                    skipped.append(Skipped(relative_name(path, folder), NOT_FOLLOWED + hint))
                    continue
                is_folder, is_file = os.path.isdir(real), os.path.isfile(real)
            else:
                real = os.path.join(real_directory, entry.name)
                is_folder, is_file = entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
            if is_folder:
                folders.append((path, real))
            elif is_file:
                found.append(path)
        pending += reversed(folders)  # walked in name order
    return sorted(found, key=lambda p: relative_name(p, folder)), skipped


def _is_side_file(name: str) -> bool:
    """Files beside the images that are no input: labels, boxes and credits."""
    return name in (LABELS_FILE, BOXES_FILE) or name.upper().startswith("CREDITS")


def relative_name(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _link_target(path: Path) -> str | None:
    """Where a link leads, or None for a chain of links too long to resolve."""
    try:
        return os.path.realpath(path)
    except (OSError, RecursionError):
        return None


def _inside(root: str, real: str) -> bool:
    return os.path.commonpath([root, real]) == root


def outside_link(path: Path, folder: Path, follow_links: bool) -> bool:
    """Whether ``path`` is a link leading out of ``folder`` that is not to be followed."""
    if follow_links or not path.is_symlink():
        return False
    real = _link_target(path)
    return real is None or not _inside(os.path.realpath(folder), real)


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
            with open_raster(path) as image:
                image.seek(0)
                image.load()
                rgb = upright_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return Skipped(name, "image is larger than Pillow's decompression-bomb limit")
    except UnidentifiedImageError:
        return Skipped(name, f"not an image reportgen reads ({FORMAT_NAMES})")
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        return Skipped(name, f"cannot decode ({first_line(error)})")
    if min(rgb.size) < MIN_SIDE:
        return Skipped(name, f"too small ({rgb.size[0]}x{rgb.size[1]}; at least {MIN_SIDE} px a side)")
    rgb = cap_size(rgb, MAX_SIDE)
    pixels = np.asarray(rgb, dtype=np.uint8).copy()
    pixels.setflags(write=False)
    return pixels


def upright_rgb(image: Image.Image) -> Image.Image:
    """A decoded picture turned upright (its EXIF orientation) and in 8-bit RGB."""
    return to_rgb(ImageOps.exif_transpose(image) or image)


def open_raster(path: Path) -> Image.Image:
    """Pillow's image of a file in one of ``FORMATS``; any other content, whatever the file's name,
    raises UnidentifiedImageError."""
    return Image.open(path, formats=FORMATS)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB, compositing transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = Image.fromarray(stretch_to_8_bit(np.array(image)), mode="L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def stretch_to_8_bit(values: np.ndarray) -> np.ndarray:
    """Deep (16-bit, 32-bit or float) gray values stretched over 0..255: the darkest to 0, the
    brightest to 255 (a float that is not finite counts as the darkest). ``values`` is changed in
    place, and the rest is done in one float32 copy, so that a large picture costs little more
    than itself (not several float64 copies)."""
    if values.dtype.kind == "f":
        values[~np.isfinite(values)] = np.nan
        if np.isnan(values).all():
            return np.zeros(values.shape, dtype=np.uint8)
        low, high = np.nanmin(values), np.nanmax(values)
        np.nan_to_num(values, copy=False, nan=low)
    else:
        low, high = values.min(), values.max()
    if not high > low:
        return np.zeros(values.shape, dtype=np.uint8)
    np.subtract(values, low, out=values, casting="unsafe")  # integers wrap around; read unsigned below they are exact
    if values.dtype.kind == "i":
        values = values.view(values.dtype.str.replace("i", "u"))
    scaled = values.astype(np.float32)
    scaled *= np.float32(255.0 / (float(high) - float(low)))
    np.rint(scaled, out=scaled)
    return scaled.astype(np.uint8)


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
