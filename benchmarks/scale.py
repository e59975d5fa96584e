"""How a build scales with the folder: synthetic folders of N images through `reportgen build`.

For each folder size: wall time and images per second, peak memory (the build process's maximum
resident set, from /usr/bin/time), the site's size and its largest page, for a cold build (empty
cache) and a warm one (everything cached), with the local executor and with Ray. Then saliency
against its physical limit: the images per second of a bare batched forward + backward loop (input
gradient only, parameters frozen) over the same images on the same machine, beside a
saliency-only build of the one-gradient method.

    python benchmarks/scale.py                                   # 100 and 1,000 images
    python benchmarks/scale.py --sizes 200,2000 --json out.json  # the memory check

The folders are made from the sample photos (inputs/): random crops, flips and colour jitter,
saved at 128 to 320 px on the longer side, seeded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parent.parent
MODEL = "efficientnet_lite0"
TECHNIQUES = "feature_maps,saliency"  # predictions run with every build
SALIENCY_ONE_GRADIENT = "saliency.methods=vanilla"  # one forward + backward an image, as the bare loop
BATCH = 8  # the saliency and feature-map batch size (their default)


def make_folder(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` distinct JPEGs derived from the sample photos."""
    rng = np.random.default_rng(seed)
    photos = [Image.open(p).convert("RGB") for p in sorted((ROOT / "inputs").glob("*.jpg"))]
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        photo = photos[index % len(photos)]
        width, height = photo.size
        scale = rng.uniform(0.35, 1.0)
        crop_w, crop_h = int(width * scale), int(height * scale * rng.uniform(0.75, 1.33))
        crop_h = min(crop_h, height)
        left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        picture = photo.crop((left, top, left + crop_w, top + crop_h))
        if rng.random() < 0.5:
            picture = ImageOps.mirror(picture)
        for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            picture = enhance(picture).enhance(rng.uniform(0.7, 1.3))
        side = int(rng.integers(128, 321))
        ratio = side / max(picture.size)
        picture = picture.resize((max(8, round(picture.width * ratio)), max(8, round(picture.height * ratio))),
                                 Image.Resampling.LANCZOS)
        picture.save(folder / f"{index:05d}.jpg", quality=90)
    return folder


def timed_build(folder: Path, work: Path, extra: list[str]) -> dict:
    """One `reportgen build` under /usr/bin/time: seconds, peak resident memory, the summary line."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "reportgen", "build", str(folder), "--models", MODEL,
               "--preset", "quick", "--device", "cpu", "--weights", "pretrained", "--quiet",
               "--out", str(work / "site"), "--cache-dir", str(work / "cache"), *extra]
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise SystemExit(f"build failed ({finished.returncode}): {finished.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", finished.stderr).group(1))
    summary = [line for line in finished.stdout.splitlines() if "artifacts:" in line]
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            "summary": summary[-1] if summary else ""}


PIPELINE = """
import json
import sys
from pathlib import Path
from reportgen.interface.config import BuildConfig
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
folder, work, techniques = Path(sys.argv[1]), Path(sys.argv[2]), tuple(t for t in sys.argv[3].split(",") if t)
config = BuildConfig(input_dir=folder, models=(sys.argv[4],), techniques=techniques, out=work / "site",
                     cache_dir=work / "cache", preset="quick", device="cpu")
report = build(config, Silent())
with open(work / "manifest.json", "w", encoding="utf-8") as stream:
    json.dump(report.manifest.to_json(), stream, indent=1, sort_keys=True)
print(report.summary())
"""


def timed_pipeline(folder: Path, count: int, techniques: str) -> dict:
    """The build without the site (plan, compute into the cache, write the manifest), cold, under
    /usr/bin/time: what this scales with the folder apart from the gallery's pages."""
    with tempfile.TemporaryDirectory(prefix=f"scale-memory-{count}-") as work:
        command = ["/usr/bin/time", "-v", sys.executable, "-c", PIPELINE, str(folder), work, techniques, MODEL]
        start = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise SystemExit(f"build failed ({finished.returncode}): {finished.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", finished.stderr).group(1))
    return {"images": count, "techniques": techniques, "seconds": round(seconds, 2),
            "images_per_s": round(count / seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1),
            "summary": finished.stdout.strip().splitlines()[-1]}


def loading_memory(folder: Path, count: int) -> dict:
    """What the loaded inputs hold once the folder is read (Python allocations, tracemalloc): the
    pixels are not among it, so it does not grow with the images' sizes."""
    import tracemalloc

    from reportgen.pictures.input_folder import load_folder

    tracemalloc.start()
    images, _ = load_folder(folder)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    pixels = sum(image.shape[0] * image.shape[1] * 3 for image in images)
    return {"images": count, "held_mb": round(held / 1e6, 2), "peak_mb": round(peak / 1e6, 2),
            "their_pixels_mb": round(pixels / 1e6, 1)}


def site_sizes(site: Path) -> dict:
    pages = {p: p.stat().st_size for p in site.rglob("*.html")}
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    largest = max(pages, key=pages.get)
    return {"site_mb": round(total / 1e6, 2), "pages": len(pages),
            "largest_page": largest.relative_to(site).as_posix(), "largest_page_kb": round(pages[largest] / 1e3, 1)}


def measure(folder: Path, count: int, executor: str, extra: list[str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"scale-{count}-{executor}-"))
    try:
        flags = [*extra, "--executor", executor]
        cold = timed_build(folder, work, flags)
        sizes = site_sizes(work / "site")
        warm = timed_build(folder, work, flags)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"images": count, "executor": executor, "cold": {**cold, "images_per_s": round(count / cold["seconds"], 2)},
            "warm": warm, **sizes}


def bare_loop(folder: Path) -> dict:
    """Images per second of the least a one-gradient saliency map needs: the folder's images,
    decoded and resized to the model's input, through the frozen network forward and backward to
    the input, in batches; nothing stored."""
    import torch

    from reportgen.core.cache import Cache
    from reportgen.pictures.input_folder import load_folder
    from reportgen.models import card_for, load

    with tempfile.TemporaryDirectory() as scratch:
        card = card_for(MODEL, "pretrained", Cache(Path(scratch)))
        model = load(card, "cpu")
    images, _ = load_folder(folder)
    network = model.for_gradients()
    start = time.perf_counter()
    for first in range(0, len(images), BATCH):
        inputs = model.inputs([image.pixels for image in images[first:first + BATCH]]).requires_grad_(True)
        logits = network(inputs)
        chosen = logits.gather(1, logits.argmax(dim=1, keepdim=True)).sum()
        (gradient,) = torch.autograd.grad(chosen, inputs)
        gradient.abs().amax(dim=1).cpu().numpy()
    seconds = time.perf_counter() - start
    return {"images": len(images), "seconds": round(seconds, 2), "images_per_s": round(len(images) / seconds, 2)}


def saliency_against_the_bare_loop(folder: Path, count: int) -> dict:
    """A saliency-only build of the one-gradient method against the bare loop, same images."""
    limit = bare_loop(folder)
    work = Path(tempfile.mkdtemp(prefix=f"scale-saliency-{count}-"))
    try:
        build = timed_build(folder, work, ["--techniques", "saliency", "--set", SALIENCY_ONE_GRADIENT])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rate = count / build["seconds"]
    return {"images": count, "bare_loop": limit, "build": {**build, "images_per_s": round(rate, 2)},
            "fraction_of_bare_loop": round(rate / limit["images_per_s"], 3)}


def merged(recorded: dict, new: dict) -> dict:
    """``recorded`` updated with ``new``: a build row replaces the one of its size and executor, a
    memory row the one of its size; parts ``new`` did not run keep their recorded results."""
    def by(rows, *fields):
        return {tuple(row["build"][f] if f == "images" and "build" in row else row[f] for f in fields): row
                for row in rows}

    result = {**recorded, **{key: value for key, value in new.items() if value}}
    result["builds"] = list({**by(recorded.get("builds", []), "images", "executor"),
                             **by(new["builds"], "images", "executor")}.values())
    result["memory"] = list({**by(recorded.get("memory", []), "images"), **by(new["memory"], "images")}.values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="comma-separated folder sizes")
    parser.add_argument("--executors", default="local,ray")
    parser.add_argument("--saliency", default="vanilla", help="saliency methods of the scaling builds")
    parser.add_argument("--compare-at", type=int, default=100, help="folder size for the bare-loop comparison (0: none)")
    parser.add_argument("--memory", default="", help="folder sizes for the build-only memory check, e.g. 200,2000")
    parser.add_argument("--memory-techniques", default="feature_maps")
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("scale.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    extra = ["--techniques", TECHNIQUES, "--set", f"saliency.methods={args.saliency}"]
    results = {"machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
               "model": MODEL, "techniques": TECHNIQUES, "preset": "quick", "saliency_methods": args.saliency,
               "builds": [], "saliency_limit": None, "memory": []}
    with tempfile.TemporaryDirectory() as scratch:
        for count in [int(s) for s in args.memory.split(",") if s]:
            folder = make_folder(Path(scratch) / f"images-{count}", count)
            row = {"loading": loading_memory(folder, count), "build": timed_pipeline(folder, count, args.memory_techniques)}
            print(json.dumps(row), flush=True)
            results["memory"].append(row)
        for count in sizes:
            folder = make_folder(Path(scratch) / f"images-{count}", count)
            for executor in args.executors.split(","):
                row = measure(folder, count, executor, extra)
                print(json.dumps(row), flush=True)
                results["builds"].append(row)
        if args.compare_at:
            folder = make_folder(Path(scratch) / f"images-{args.compare_at}", args.compare_at)
            results["saliency_limit"] = saliency_against_the_bare_loop(folder, args.compare_at)
            print(json.dumps(results["saliency_limit"]), flush=True)
    if args.json.exists():  # a run of some parts keeps the others' recorded results
        results = merged(json.loads(args.json.read_text()), results)
    args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
