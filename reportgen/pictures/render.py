"""Pure numpy -> picture helpers shared by every technique: scaling, grids, colour maps,
overlays, resizing, byte-exact PNG / GIF encoding, and the structural similarity the regression
check compares optimisations by. No torch here."""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

from reportgen.pictures import colour_tables


def minmax(array: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale to [0, 1] over the whole array (a constant array becomes zeros)."""
    array = np.asarray(array, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    if high - low < eps:
        return np.zeros_like(array)
    return (array - low) / (high - low)


def to_uint8(array01: np.ndarray) -> np.ndarray:
    return np.round(np.clip(array01, 0.0, 1.0) * 255.0).astype(np.uint8)


def chw_to_hwc(array: np.ndarray) -> np.ndarray:
    return np.transpose(np.asarray(array), (1, 2, 0))


def grid(tiles: Sequence[np.ndarray], columns: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Lay uint8 tiles of one size (HxW or HxWx3) in rows of ``columns`` with ``pad`` px gaps."""
    if not tiles:
        raise ValueError("grid needs at least one tile")
    count = len(tiles)
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    height, width = tiles[0].shape[:2]
    channels = () if tiles[0].ndim == 2 else (tiles[0].shape[2],)
    canvas = np.full((rows * height + (rows - 1) * pad, columns * width + (columns - 1) * pad, *channels), fill, np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = row * (height + pad), column * (width + pad)
        canvas[top : top + height, left : left + width] = tile
    return canvas


def upscale_nearest(picture: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge small tiles (3x3 filters) so that each weight stays a crisp square."""
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def resize(picture: np.ndarray, size: tuple[int, int], smooth: bool = True) -> np.ndarray:
    """uint8 picture -> (width, height)."""
    image = Image.fromarray(picture)
    method = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    return np.asarray(image.resize(size, method))


def resize_float(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float HxW map -> (width, height), bilinear, values kept as floats."""
    image = Image.fromarray(np.asarray(array, dtype=np.float32), mode="F")
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


# viridis: perceptually ordered, for maps on their own; jet: the classic heat map of CAM papers,
# for overlays on photos. Both are matplotlib's exact tables.
COLOUR_MAPS = {"viridis": colour_tables.VIRIDIS, "jet": colour_tables.JET}


def colourise(map01: np.ndarray, name: str = "viridis") -> np.ndarray:
    """HxW values in [0, 1] -> uint8 HxWx3, the table entry matplotlib picks (``cmap(x, bytes=True)``):
    256 equal bins, the last one closed."""
    table = COLOUR_MAPS[name]
    index = (np.clip(np.asarray(map01, dtype=np.float64), 0, 1) * len(table)).astype(int)
    return table[np.minimum(index, len(table) - 1)]


def overlay(photo: np.ndarray, map01: np.ndarray, alpha: float = 0.5, name: str = "jet") -> np.ndarray:
    """Blend a heat map (resized to the photo) over a uint8 RGB photo."""
    height, width = photo.shape[:2]
    heat = colourise(resize_float(map01, (width, height)), name).astype(np.float64)
    return np.round(photo.astype(np.float64) * (1 - alpha) + heat * alpha).astype(np.uint8)


def fit_within(picture: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale a uint8 picture so its longer side is at most ``max_side`` (aspect kept)."""
    height, width = picture.shape[:2]
    if max(height, width) <= max_side:
        return picture
    scale = max_side / max(height, width)
    return resize(picture, (max(1, round(width * scale)), max(1, round(height * scale))))


def png_bytes(picture: np.ndarray) -> bytes:
    """Deterministic PNG encoding (no timestamps or text chunks)."""
    picture = np.asarray(picture)
    if picture.dtype != np.uint8:
        raise TypeError(f"pictures are uint8, got {picture.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def gif_bytes(frames: Sequence[np.ndarray], duration_ms: int = 100, final_hold_ms: int = 1000) -> bytes:
    """A looping animated GIF; the last frame is held longer so the result can be seen. Each
    frame gets its own 256 colours by Pillow's fast octree: Pillow's default, median cut, is
    slower by far (a large share of an ascent's time) for slightly less error
    (benchmarks/README.md, "Whole commands"); identical frames in a row merge into one."""
    frames = [np.asarray(f, dtype=np.uint8) for f in frames]
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    pictures = [Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], loop=0,
                     duration=[duration_ms] * (len(frames) - 1) + [final_hold_ms])
    return buffer.getvalue()


def structural_similarity(before: np.ndarray, after: np.ndarray, side: int = 64) -> float:
    """SSIM (Wang et al. 2004; 7x7 windows) of two pictures' grayscale, each first low-passed by
    averaging down to at most ``side`` px on its longer side: pixel grain is ignored, shapes,
    their placement and contrast count."""
    def low_pass(picture: np.ndarray) -> np.ndarray:
        rgb = picture[..., :3].astype(np.float64) / 255 if picture.ndim == 3 else picture.astype(np.float64)[..., None] / 255
        gray = rgb.mean(axis=-1)
        step = max(1, int(np.ceil(max(gray.shape) / side)))
        height, width = (gray.shape[0] // step) * step, (gray.shape[1] // step) * step
        return gray[:height, :width].reshape(height // step, step, width // step, step).mean(axis=(1, 3))

    x, y = low_pass(before), low_pass(after)
    window = min(7, *x.shape)

    def mean(a: np.ndarray) -> np.ndarray:
        total = np.pad(a, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        w = window
        return (total[w:, w:] - total[:-w, w:] - total[w:, :-w] + total[:-w, :-w]) / (w * w)

    mx, my = mean(x), mean(y)
    vx, vy, cov = mean(x * x) - mx * mx, mean(y * y) - my * my, mean(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim.mean())
