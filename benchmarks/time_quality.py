"""Time against quality for the optimisation settings tried while choosing the presets.

    python benchmarks/time_quality.py [--out benchmarks/time-quality.json]

Each row runs one setting over part of what the standard gallery runs (robust class models of
classes 52, 77, 231 without penalty, made by efficientnet_lite0, then by efficientnet_lite2;
octave dreams of the sample images on efficientnet_lite0, both objectives), times it on this
machine, and measures the result with benchmarks/quality.py's measures:

- class models: top-1 on the model that made them, top-5 / top-1 on the other embedded model;
- dreams: median rms change (grey levels) and median high-frequency share of the change.

Seconds are wall-clock on a shared machine: compare rows of one run, not runs of different days.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from quality import EMBEDDED, classify, dream_change, load_models  # noqa: E402

LUCENT = {"decay_power": 1.0, "robust_lr": 0.05, "jitter": 8, "zoom": 0.1, "degrees": 10.0, "colour_shift": 0.0}
CLASS_SETTINGS = [
    ("lucent defaults (128 px canvas seen at the input size, 1/f, lr 0.05)", LUCENT),
    ("+ spectrum 1/f^1.5", {**LUCENT, "decay_power": 1.5}),
    ("+ lr 0.3", {**LUCENT, "decay_power": 1.5, "robust_lr": 0.3}),
    ("+ jitter 16, zoom 0.6-1.4, 30 degrees, colour shift 0.3", {"zoom": 0.4, "degrees": 30.0}),
    ("+ zoom 0.5-1.5, 45 degrees (standard)", {}),
    ("standard, canvas 256 px", {"robust_side": 256}),
    ("standard, 128 steps (full)", {"robust_steps": 128}),
]
LITE2_SETTINGS = [
    ("lucent defaults", LUCENT),
    ("jitter 16, zoom 0.6-1.4, 30 degrees, colour shift 0.3", {"zoom": 0.4, "degrees": 30.0}),
    ("the same, lr 0.15", {"zoom": 0.4, "degrees": 30.0, "robust_lr": 0.15}),
    ("the same, 96 steps", {"zoom": 0.4, "degrees": 30.0, "robust_steps": 96}),
    ("the same, canvas 256 px", {"zoom": 0.4, "degrees": 30.0, "robust_side": 256}),
    ("zoom 0.5-1.5, 45 degrees (standard)", {}),
]
DREAM_SETTINGS = [
    ("no jitter, no smoothing (plain normalised steps)", {"jitter": 0, "smoothing": 0.0}),
    ("jitter only", {"smoothing": 0.0}),
    ("jitter + smoothing, blocks.4.2 (standard)", {}),
    ("standard, blocks.5.0", {"layer": "blocks.5.0"}),
    ("standard, blocks.5.3", {"layer": "blocks.5.3"}),
    ("standard, step 0.05", {"step_size": 0.05}),
]


def class_rows(judges, settings=CLASS_SETTINGS, maker_name="efficientnet_lite0"):
    from reportgen.core.progress import Silent
    from reportgen.techniques.base import registry

    technique = registry()["class_ascent"]
    maker = judges[maker_name]
    other = next(name for name in judges if name != maker_name)
    rows = []
    for label, changes in settings:
        params = technique.params_for("standard", {"styles": ("robust",), "regularisers": ("none",), **changes})
        requests = technique.plan(params, maker.card, [])
        start = time.perf_counter()
        results = list(technique.compute(params, maker, requests, Silent()))
        seconds = time.perf_counter() - start
        pictures = [result.images["final"] for _, result in results]
        targets = [request.spec["class_index"] for request, _ in results]
        probabilities = classify(judges, pictures)
        ranks = {name: [int(np.where(np.argsort(-p[i]) == t)[0][0]) + 1 for i, t in enumerate(targets)]
                 for name, p in probabilities.items()}
        rows.append({"setting": label, "changes": changes, "seconds": round(seconds, 1),
                     "own_top1": sum(r == 1 for r in ranks[maker_name]) / len(targets),
                     "other_top5": sum(r <= 5 for r in ranks[other]) / len(targets),
                     "other_top1": sum(r == 1 for r in ranks[other]) / len(targets),
                     "ranks": ranks})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def dream_rows(model, images, settings=DREAM_SETTINGS):
    from reportgen.core.progress import Silent
    from reportgen.techniques.base import registry

    technique = registry()["deep_dream"]
    rows = []
    for label, changes in settings:
        params = technique.params_for("standard", {"methods": ("octaves",), **changes})
        requests = technique.plan(params, model.card, images)
        start = time.perf_counter()
        results = list(technique.compute(params, model, requests, Silent()))
        seconds = time.perf_counter() - start
        measured = [dream_change(r.image.pixels, result.images["dream"], tuple(result.meta.working_size))
                    for r, result in results]
        rows.append({"setting": label, "changes": changes, "seconds": round(seconds, 1),
                     "median_rms": round(statistics.median(m[0] for m in measured), 2),
                     "median_high_frequency_share": round(statistics.median(m[1] for m in measured), 4)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "time-quality.json")
    parser.add_argument("--inputs", type=Path, default=Path(__file__).resolve().parent.parent / "inputs")
    args = parser.parse_args(argv)
    import torch

    from reportgen.pictures.input_folder import load_folder

    torch.set_num_threads(2)
    judges = load_models(EMBEDDED)
    images = load_folder(args.inputs)[0]
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "load_average_before": os.getloadavg()},
              "class_ascent": class_rows(judges),
              "class_ascent_lite2": class_rows(judges, LITE2_SETTINGS, "efficientnet_lite2"),
              "deep_dream": dream_rows(judges["efficientnet_lite0"], images)}
    report["machine"]["load_average_after"] = os.getloadavg()
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
