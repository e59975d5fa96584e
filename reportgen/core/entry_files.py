"""How a result is laid out in its cache entry's folder: one file per role, named by the role."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from reportgen.core.artifacts import Result


def write_result(folder: Path, result: Result, animation: str) -> dict[str, str]:
    """Each of ``result``'s files in ``folder``: arrays as .npy, pictures as PNG, animations in
    ``animation``'s format; role -> file name."""
    from reportgen.pictures import render  # keeps cache import light for the site renderer

    roles = [*result.arrays, *result.images, *result.animations]
    if len(set(roles)) != len(roles):
        raise ValueError(f"a result names a role twice: {roles}")
    files: dict[str, str] = {}
    for role, array in result.arrays.items():
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        files[role] = _write(folder, f"{role}.npy", buffer.getvalue())
    for role, picture in result.images.items():
        files[role] = _write(folder, f"{role}.png", render.png_bytes(picture))
    for role, frames in result.animations.items():
        files[role] = _write(folder, f"{role}.{animation}", render.animation_bytes(frames, animation))
    return files


def _write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return name


def fsync_folder(folder: Path) -> None:
    """Every file of ``folder`` on disk before its entry is recorded."""
    for path in folder.iterdir():
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
