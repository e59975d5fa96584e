"""Quality measures of a build's optimisation pictures, computed from its site folder.

    python benchmarks/quality.py SITE_DIR [--inputs inputs/] [--json out.json]

- Robust class models: each final picture, resized whole to each embedded model's input size, is
  classified by the model that made it (is the class top-1?) and by the other embedded models
  (is it in their top-5, top-1?). A picture another network recognises shows the class, not an
  adversarial pattern of one network.
- Octave Deep Dreams: how far the dream moved from the photo (rms over pixels and channels, in
  grey levels of 255) and how much of that change is pixel-level grain: the share of the spectral
  energy of the grayscale change (dream minus the photo resized to the working size and back)
  above a quarter of the sampling rate.
- Filter visualisations: the unit's peak activation on its robust visualisation relative to its
  peak over the input images (from the artifacts' meta).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

EMBEDDED = ("efficientnet_lite0", "efficientnet_lite2")


def grey(picture: np.ndarray) -> np.ndarray:
    return picture.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def high_frequency_share(change: np.ndarray, cutoff: float = 0.25) -> float:
    """Share of the energy of a 2-D signal (mean removed) at radial frequencies above ``cutoff``
    cycles per pixel (0.5 is the Nyquist limit)."""
    power = np.abs(np.fft.fft2(change - change.mean())) ** 2
    fy = np.fft.fftfreq(change.shape[0])[:, None]
    fx = np.fft.fftfreq(change.shape[1])[None, :]
    total = power.sum()
    return float(power[np.sqrt(fx**2 + fy**2) > cutoff].sum() / total) if total > 0 else 0.0


def dream_change(original: np.ndarray, dream: np.ndarray, working: tuple[int, int]) -> tuple[float, float]:
    """(rms change in grey levels, high-frequency share of the grayscale change), both at the
    working size ``working`` = (width, height) the dream ran at: the photo and the dream are
    resized there, so neither the detail the resize loses nor the upscaling back to the input's
    size counts, and frequencies are relative to the pixels the dream was made of."""
    base = np.asarray(Image.fromarray(original).resize(working, Image.Resampling.BILINEAR), dtype=np.float64)
    dreamed = np.asarray(Image.fromarray(dream).resize(working, Image.Resampling.BILINEAR), dtype=np.float64)
    rms = float(np.sqrt(((dreamed - base) ** 2).mean()))
    return rms, high_frequency_share(grey(dreamed) - grey(base))


def classify(models: dict, pictures: list[np.ndarray]) -> dict[str, np.ndarray]:
    import torch

    out = {}
    for name, model in models.items():
        with torch.inference_mode():
            out[name] = model.module(model.inputs(pictures)).softmax(1).numpy()
    return out


def load_models(names) -> dict:
    import tempfile

    from reportgen import models
    from reportgen.core.cache import Cache

    cache = Cache(Path(tempfile.mkdtemp()) / "cards")
    return {name: models.load(models.card_for(name, "pretrained", cache), "cpu") for name in names}


def measure(site: Path, inputs: Path) -> dict:
    manifest = json.loads((site / "manifest.json").read_text())
    artifacts = manifest["artifacts"]
    report: dict = {"class_ascent": {}, "deep_dream": {}, "layer_ascent": {}}

    robust = [a for a in artifacts if a["technique"] == "class_ascent" and a["spec"].get("style") == "robust"]
    if robust:
        judges = load_models([m for m in EMBEDDED])
        for maker in sorted({a["model"] for a in robust}):
            mine = [a for a in robust if a["model"] == maker]
            pictures = [np.asarray(Image.open(site / a["files"]["final"]["path"]).convert("RGB")) for a in mine]
            probabilities = classify(judges, pictures)
            rows = []
            for index, artifact in enumerate(mine):
                target = artifact["spec"]["class_index"]
                row = {"variant": artifact["variant"]}
                for judge, p in probabilities.items():
                    order = np.argsort(-p[index])
                    row[judge] = {"rank": int(np.where(order == target)[0][0]) + 1, "p": round(float(p[index, target]), 3)}
                rows.append(row)
            summary = {"own_top1": sum(r[maker]["rank"] == 1 for r in rows) / len(rows)}
            others = [r[j] for r in rows for j in judges if j != maker]
            if others:
                summary["other_top5"] = sum(o["rank"] <= 5 for o in others) / len(others)
                summary["other_top1"] = sum(o["rank"] == 1 for o in others) / len(others)
            report["class_ascent"][maker] = {"summary": summary, "runs": rows}

    dreams = [a for a in artifacts if a["technique"] == "deep_dream" and a["spec"].get("method") == "octaves"]
    if dreams:
        from reportgen.pictures.input_folder import load_folder

        originals = {image.name: image.pixels for image in load_folder(inputs)[0]}
        for maker in sorted({a["model"] for a in dreams}):
            rows = []
            for artifact in (a for a in dreams if a["model"] == maker):
                dream = np.asarray(Image.open(site / artifact["files"]["dream"]["path"]).convert("RGB"))
                rms, share = dream_change(originals[artifact["image"]], dream, tuple(artifact["meta"]["working_size"]))
                rows.append({"image": artifact["image"], "objective": artifact["spec"]["objective"],
                             "rms": round(rms, 2), "high_frequency_share": round(share, 4)})
            report["deep_dream"][maker] = {
                "summary": {"median_rms": round(statistics.median(r["rms"] for r in rows), 2),
                            "median_high_frequency_share": round(statistics.median(r["high_frequency_share"] for r in rows), 4)},
                "runs": rows,
            }

    examples = {(a["model"], a["spec"]["layer"], a["spec"]["filter"]): a for a in artifacts
                if a["technique"] == "layer_ascent" and a["variant"].endswith("/examples")}
    for artifact in artifacts:
        if artifact["technique"] != "layer_ascent" or "style" not in artifact["spec"]:
            continue
        paired = examples.get((artifact["model"], artifact["spec"]["layer"], artifact["spec"]["filter"]))
        if paired and "final_peak" in artifact["meta"]:
            ratio = artifact["meta"]["final_peak"] / max(paired["meta"]["input_peak"], 1e-12)
            report["layer_ascent"].setdefault(artifact["model"], {})[artifact["variant"]] = round(ratio, 2)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("--inputs", type=Path, default=Path(__file__).resolve().parent.parent / "inputs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = measure(args.site, args.inputs)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    for section in ("class_ascent", "deep_dream"):
        for model, values in report[section].items():
            print(section, model, json.dumps(values["summary"]))
    for model, ratios in report["layer_ascent"].items():
        print("layer_ascent", model, json.dumps(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
