"""Dataset examples from a folder (``--examples DIR``): mining time and peak memory against the
folder's size.

Makes folders of N pictures derived from inputs/ (random crops, flips, longer side 128-320 px,
JPEG), then, each in a fresh process, plans and computes layer ascent's examples of every unit of
two efficientnet_lite0 layers over that folder (no visualisation), recording the folder's scan
(its digest), the mining pass, images per second, and the process's memory: after loading the
model, and its peak. Memory should stay flat as N grows: a pass holds one batch of images and k
patches per unit.

    python benchmarks/examples.py                       # 200 and 1000 images -> benchmarks/examples.json
    python benchmarks/examples.py --sizes 100,2000 --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("blocks.3.1.conv_pwl", "blocks.5.2.conv_pw")  # layer ascent's default layers for this model


def make_folder(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` JPEGs cut from the sample photos: a random crop of 50-100 % of each side, flipped
    half the time, the longer side resized to 128-320 px."""
    photos = [np.asarray(Image.open(path).convert("RGB")) for path in sorted((ROOT / "inputs").glob("*.jpg"))]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        photo = photos[index % len(photos)]
        height, width = photo.shape[:2]
        crop_h, crop_w = int(height * rng.uniform(0.5, 1)), int(width * rng.uniform(0.5, 1))
        top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
        picture = photo[top:top + crop_h, left:left + crop_w]
        if rng.random() < 0.5:
            picture = picture[:, ::-1]
        longer = int(rng.integers(128, 321))
        scale = longer / max(crop_h, crop_w)
        size = (max(8, round(crop_w * scale)), max(8, round(crop_h * scale)))
        Image.fromarray(np.ascontiguousarray(picture)).resize(size, Image.Resampling.BILINEAR).save(
            folder / f"img{index:05d}.jpg", quality=90)
    return folder


def rss_mb() -> float:
    """This process's resident memory now."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure(folder: Path) -> dict:
    """One folder's scan and mining pass, in this process (run it in a fresh one)."""
    import torch

    from reportgen import models
    from reportgen.core.cache import Cache
    from reportgen.techniques.dataset_examples import MINING_BATCH
    from reportgen.core.progress import Silent
    from reportgen.techniques.base import registry

    torch.set_num_threads(2)
    technique = registry()["layer_ascent"]
    card = models.card_for("efficientnet_lite0", "pretrained", Cache(folder.parent / "cache"))
    model = models.load(card, "cpu")
    loaded_mb = rss_mb()
    loaded_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # loading's own peak
    params = technique.params_for("standard", {"units": tuple(f"{layer}:*" for layer in LAYERS), "styles": (),
                                               "examples_dir": str(folder)})
    start = time.perf_counter()
    requests = technique.plan(params, card, [])
    scan_s = time.perf_counter() - start
    start = time.perf_counter()
    results = list(technique.compute(params, model, requests, Silent()))
    mine_s = time.perf_counter() - start
    images = results[0][1].meta.images
    return {
        "files": len(list(folder.iterdir())), "images": images, "units": len(requests),
        "batch": MINING_BATCH, "examples_per_unit": params.examples,
        "scan_s": round(scan_s, 2), "mine_s": round(mine_s, 2), "images_per_s": round(images / mine_s, 1),
        "rss_after_model_mb": round(loaded_mb, 1), "peak_rss_after_model_mb": round(loaded_peak_mb, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "folder_mb": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000", help="folder sizes, comma-separated")
    parser.add_argument("--work", type=Path, default=Path("/tmp/reportgen-examples-bench"))
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "examples.json")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child is not None:
        print(json.dumps(measure(options.child)))
        return
    rows = []
    for count in (int(size) for size in options.sizes.split(",")):
        folder = options.work / f"images-{count}"
        if not folder.is_dir():
            make_folder(folder, count)
        done = subprocess.run([sys.executable, __file__, "--child", str(folder)], check=True, capture_output=True,
                              text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"model": "efficientnet_lite0", "layers": list(LAYERS), "machine": platform.machine(),
              "cpu_threads": 2, "runs": rows}
    options.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
