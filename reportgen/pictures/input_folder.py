"""An input folder: its images, each with the class ``labels.json`` pins and the boxes
``boxes.json`` draws around its object. A side file's problems are reported as ``Skipped`` entries
in one line each, never raised."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Sequence

from PIL import ImageOps

from reportgen.core.errors import first_line
from reportgen.pictures.images import (BOXES_FILE, FOLLOW_HINT, LABELS_FILE, NOT_FOLLOWED, Box, InputImage, Skipped, discover,
                              load_image, open_raster, outside_link, relative_name)


def load_folder(folder: Path, follow_links: bool = False) -> tuple[list[InputImage], list[Skipped]]:
    """Load every image under ``folder``; duplicates by content are kept once.

    An optional ``labels.json`` maps file names (relative paths) to the class to explain, an
    optional ``boxes.json`` to the boxes around the object (for the pointing game). Links that
    leave ``folder`` are skipped unless ``follow_links``.
    """
    labels, skipped = read_labels(folder, follow_links)
    boxes, side_problems = read_boxes(folder, follow_links)
    paths, links = discover(folder, follow_links, FOLLOW_HINT)
    skipped += links
    images: list[InputImage] = []
    hashes: dict[str, str] = {}
    for path in paths:
        name = relative_name(path, folder)
        loaded = load_image(path, name)
        if isinstance(loaded, Skipped):
            skipped.append(loaded)
        elif loaded.pixel_hash in hashes:
            skipped.append(Skipped(name, f"same pixels as {hashes[loaded.pixel_hash]}"))
        else:
            hashes[loaded.pixel_hash] = name
            fitted, problem = fit_boxes(boxes.get(name, ()), path, loaded)
            if problem:
                side_problems.append(Skipped(BOXES_FILE, f"{name}: {problem}"))
            images.append(dataclasses.replace(loaded, label=labels.get(name), boxes=fitted))
    known = {image.name for image in images} | {s.name for s in skipped}
    for side_file, entries in ((LABELS_FILE, labels), (BOXES_FILE, boxes)):
        side_problems += [Skipped(side_file, f"names {name}, which is no input image")
                          for name in entries if name not in known]
    return images, skipped + side_problems


def _read_json(folder: Path, file_name: str, follow_links: bool) -> tuple[object, Skipped | None]:
    """A side file's JSON (None when absent), or why it cannot be read."""
    path = folder / file_name
    if outside_link(path, folder, follow_links):
        return None, Skipped(file_name, NOT_FOLLOWED + FOLLOW_HINT)
    if not path.is_file():
        return None, None
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except RecursionError:
        return None, Skipped(file_name, "nested too deeply to read")
    except (OSError, ValueError) as error:
        return None, Skipped(file_name, f"not valid JSON ({first_line(error)})")


def read_boxes(folder: Path, follow_links: bool = False) -> tuple[dict[str, list[Box]], list[Skipped]]:
    """``boxes.json``: ``{"file.jpg": [x0, y0, x1, y1]}`` or a list of such boxes per file, in
    pixels of the original image (after its EXIF rotation)."""
    data, problem = _read_json(folder, BOXES_FILE, follow_links)
    if problem or data is None:
        return {}, [problem] if problem else []
    if not isinstance(data, dict):
        return {}, [Skipped(BOXES_FILE, "expected an object mapping file names to [x0, y0, x1, y1] boxes")]
    boxes: dict[str, list[Box]] = {}
    problems: list[Skipped] = []
    for name, value in data.items():
        listed = value if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else [value]
        if not all(_is_box(box) for box in listed):
            problems.append(Skipped(BOXES_FILE, f"{name}: expected [x0, y0, x1, y1] with x0 < x1 and y0 < y1, or a list of them"))
            continue
        boxes[str(name)] = [(float(x0), float(y0), float(x1), float(y1)) for x0, y0, x1, y1 in listed]
    return boxes, problems


def _is_box(box: object) -> bool:
    return (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
            and box[0] < box[2] and box[1] < box[3])


def fit_boxes(boxes: Sequence[Box], path: Path, image: InputImage) -> tuple[tuple[Box, ...], str | None]:
    """Boxes in the original picture's pixels -> the loaded picture's (which may be downscaled);
    a box reaching outside the original picture is refused."""
    if not boxes:
        return (), None
    with open_raster(path) as original:
        width, height = (ImageOps.exif_transpose(original) or original).size
    for x0, y0, x1, y1 in boxes:
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            return (), f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] reaches outside the {width}x{height} image"
    scale_x, scale_y = image.size[0] / width, image.size[1] / height
    return tuple((x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y) for x0, y0, x1, y1 in boxes), None


def read_labels(folder: Path, follow_links: bool = False) -> tuple[dict[str, str | int], list[Skipped]]:
    """``labels.json``: ``{"file.jpg": 281, "cup.jpg": "espresso"}``, a class index or category name
    per file; an entry with anything else (``true`` is not class 1) is skipped in one line. Whether
    a class exists is for each model to say (``summaries.checked_labels``)."""
    data, problem = _read_json(folder, LABELS_FILE, follow_links)
    if problem or data is None:
        return {}, [problem] if problem else []
    if not isinstance(data, dict):
        return {}, [Skipped(LABELS_FILE, "expected an object mapping file names to class indices or names")]
    labels: dict[str, str | int] = {}
    problems: list[Skipped] = []
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            problems.append(Skipped(LABELS_FILE, f"{name}: expected a class index or name, not {json.dumps(value)[:40]}"))
        else:
            labels[str(name)] = value
    return labels, problems
