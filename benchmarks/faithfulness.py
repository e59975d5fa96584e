"""Faithfulness on pictures whose answer is known: the sample photos pasted, smaller, at random
places on a texture, with labels.json (the class each photo shows) and boxes.json (where it was
pasted). Builds saliency + faithfulness, prints each method's scores beside the baselines, and
recounts the pointing game from the saliency maps themselves, outside the technique.

    python benchmarks/faithfulness.py [--count 6] [--preset quick] [--models efficientnet_lite0]

Writes benchmarks/faithfulness.json (the scores and both pointing counts).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import reportgen

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = {"cat.jpg": "Egyptian cat", "coffee.jpg": "espresso", "rocket.jpg": "missile"}


def texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth coloured noise with stripes: busy enough that the object is not the only structure."""
    coarse = rng.random((size // 16, size // 16, 3))
    smooth = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC), float)
    stripes = 15 * np.sin(np.arange(size) / 3.0)[None, :, None]
    return np.clip(smooth * 0.4 + 80 + stripes, 0, 255).astype(np.uint8)


def make_folder(folder: Path, count: int, seed: int = 0, size: int = 320) -> None:
    rng = np.random.default_rng(seed)
    boxes, labels = {}, {}
    names = list(PHOTOS)
    for index in range(count):
        photo_name = names[index % len(names)]
        side = int(rng.integers(170, 230))
        photo = Image.open(ROOT / "inputs" / photo_name).convert("RGB")
        scale = side / max(photo.size)
        photo = photo.resize((max(1, round(photo.width * scale)), max(1, round(photo.height * scale))), Image.LANCZOS)
        x, y = int(rng.integers(0, size - photo.width)), int(rng.integers(0, size - photo.height))
        canvas = Image.fromarray(texture(size, rng))
        canvas.paste(photo, (x, y))
        name = f"{index:02d}-{photo_name.split('.')[0]}.png"
        canvas.save(folder / name)
        boxes[name] = [x, y, x + photo.width, y + photo.height]
        labels[name] = PHOTOS[photo_name]
    (folder / "boxes.json").write_text(json.dumps(boxes, indent=1))
    (folder / "labels.json").write_text(json.dumps(labels, indent=1))


def outside_pointing(gallery, folder: Path, tolerance_at_224: float = 15.0) -> dict[str, dict[str, float]]:
    """Each method's hit rate recounted from the saliency artifacts' raw maps."""
    boxes = json.loads((folder / "boxes.json").read_text())
    sizes = {name: Image.open(folder / name).size for name in boxes}
    counts: dict[str, dict[str, list[int]]] = {}
    for artifact in gallery.select(technique="saliency"):
        role = "cam" if artifact.variant == "gradcam" else "attribution"
        raw = gallery.array(artifact, role)
        side = next(m.input_size for m in gallery.manifest.models if m.name == artifact.model)
        if role == "cam":  # upsample as the page's ranking does: bilinear to the input size
            import torch
            from torch.nn import functional as F
            raw = F.interpolate(torch.from_numpy(raw)[None, None].float(), size=(side, side), mode="bilinear",
                                align_corners=False)[0, 0].numpy()
        else:
            raw = np.abs(raw).max(axis=0)
        row, column = np.unravel_index(int(np.argmax(raw)), raw.shape)
        width, height = sizes[artifact.image]
        x0, y0, x1, y1 = boxes[artifact.image]
        box = (x0 * side / width, y0 * side / height, x1 * side / width, y1 * side / height)
        dx = max(box[0] - (column + 0.5), 0, column + 0.5 - box[2])
        dy = max(box[1] - (row + 0.5), 0, row + 0.5 - box[3])
        hit = int(np.hypot(dx, dy) <= tolerance_at_224 * side / 224)
        counts.setdefault(artifact.model, {}).setdefault(artifact.variant, []).append(hit)
    return {model: {method: sum(h) / len(h) for method, h in methods.items()} for model, methods in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--models", default="efficientnet_lite0")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "faithfulness.json")
    parser.add_argument("--work", type=Path, help="folder for the pictures, cache and site (kept; default: a new temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="faithfulness-"))
    folder = work / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    make_folder(folder, args.count)
    gallery = reportgen.build(folder, models=args.models.split(","), techniques=["saliency", "faithfulness"],
                              preset=args.preset, out=work / "site", cache_dir=work / "cache")
    outside = outside_pointing(gallery, folder)
    results = {}
    for artifact in gallery.select(technique="faithfulness"):
        meta = artifact.meta
        print(f"\n{artifact.model}: {meta.images} images")
        print(f"{'method':24}" + "".join(f"{m:>15}" for m in meta.metrics) + f"{'outside count':>15}")
        for name in meta.methods:
            row = meta.scores[name]
            cells = "".join(f"{'-' if row[m] is None else format(row[m], '.3f'):>15}" for m in meta.metrics)
            recount = outside.get(artifact.model, {}).get(name)
            print(f"{name:24}{cells}{'' if recount is None else format(recount, '.3f'):>15}")
        results[artifact.model] = {"images": meta.images, "scores": dict(meta.scores),
                                   "outside_pointing": outside.get(artifact.model, {})}
    args.out.write_text(json.dumps({"preset": args.preset, "count": args.count, "models": results}, indent=1) + "\n")
    print(f"\nsite: {work / 'site' / 'faithfulness.html'}")


if __name__ == "__main__":
    main()
