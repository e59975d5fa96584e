"""Train a tiny CNN to tell which shape (square, circle, triangle) is drawn somewhere on a noisy
64 px picture, then write what reportgen needs to explain it: the state dict (shapes.pth), the
class names (classes.txt), a few test pictures (pictures/) and reportgen.toml declaring the model.

    python train.py            # seconds on a CPU
    reportgen build            # then open site/index.html
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from shapes_net import build  # noqa: E402

CLASSES = ("square", "circle", "triangle")
SIZE = 64
MEAN, STD = 0.5, 0.25
CONFIG = f'''# The model train.py trained, declared for reportgen: `reportgen build` here builds its gallery.
input = "pictures"
models = ["shapes"]

[model.shapes]
factory = "shapes_net:build"  # shapes_net.py, beside this file
weights = "shapes.pth"        # a state dict: torch.save(model.state_dict(), "shapes.pth")
classes = "classes.txt"       # one name a line, in the order of the model's outputs
input_size = {SIZE}
mean = [{MEAN}, {MEAN}, {MEAN}]
std = [{STD}, {STD}, {STD}]
'''


def draw(label: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A noisy SIZE x SIZE RGB picture with shape ``label`` in a random colour and place, and the
    shape's box (top, left, bottom, right), exclusive at the end."""
    pixels = rng.integers(0, 110, (SIZE, SIZE, 3)).astype(np.uint8)
    side = int(rng.integers(16, 25))
    top, left = (int(v) for v in rng.integers(2, SIZE - side - 2, 2))
    rows, cols = np.mgrid[0:side, 0:side]
    if CLASSES[label] == "square":
        mask = np.ones((side, side), bool)
    elif CLASSES[label] == "circle":
        centre = (side - 1) / 2
        mask = (rows - centre) ** 2 + (cols - centre) ** 2 <= (side / 2) ** 2
    else:  # a triangle pointing up
        mask = np.abs(cols - (side - 1) / 2) <= rows / 2
    colour = rng.integers(150, 256, 3).astype(np.uint8)
    pixels[top:top + side, left:left + side][mask] = colour
    return pixels, (top, left, top + side, left + side)


def pictures(count: int, seed: int) -> tuple[list[np.ndarray], list[int], list[tuple[int, int, int, int]]]:
    rng = np.random.default_rng(seed)
    labels = [int(label) for label in rng.integers(0, len(CLASSES), count)]
    drawn = [draw(label, rng) for label in labels]
    return [p for p, _ in drawn], labels, [box for _, box in drawn]


def as_input(batch: list[np.ndarray]) -> torch.Tensor:
    return (torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255 - MEAN) / STD


def train(steps: int = 200, seed: int = 0) -> torch.nn.Module:
    """The model, trained on fresh pictures each step; seeded, so the same weights each run."""
    torch.manual_seed(seed)
    net = build()
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(steps):
        batch, labels, _ = pictures(32, seed * 100_000 + step)
        loss = torch.nn.functional.cross_entropy(net(as_input(batch)), torch.tensor(labels))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def accuracy(net: torch.nn.Module, count: int = 200, seed: int = 99) -> float:
    batch, labels, _ = pictures(count, seed)
    with torch.no_grad():
        return float((net(as_input(batch)).argmax(1) == torch.tensor(labels)).float().mean())


def main(folder: Path = HERE, steps: int = 200, count: int = 6) -> Path:
    """Train, and write the state dict, classes, test pictures and reportgen.toml into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    net = train(steps)
    torch.save(net.state_dict(), folder / "shapes.pth")
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    (folder / "pictures").mkdir(exist_ok=True)
    batch, labels, _ = pictures(count, seed=7)
    for index, (pixels, label) in enumerate(zip(batch, labels)):
        Image.fromarray(pixels).save(folder / "pictures" / f"{index}-{CLASSES[label]}.png")
    (folder / "reportgen.toml").write_text(CONFIG)
    if folder.resolve() != HERE:
        shutil.copy(HERE / "shapes_net.py", folder / "shapes_net.py")
    return folder


if __name__ == "__main__":
    written = main()
    print(f"wrote shapes.pth, classes.txt, pictures/ and reportgen.toml in {written}; now run: reportgen build")
