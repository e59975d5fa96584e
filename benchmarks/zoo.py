"""Zoo sweep: every model of ``reportgen list models`` through every technique at a tiny preset,
with untrained weights, and a table of what built, what was skipped (with its reason) and what failed.

    python benchmarks/zoo.py [--models a,b | --all] [--techniques t1,t2] [--preset quick]
                             [--image inputs/cat.jpg] [--out benchmarks/zoo] [--fresh]

Each (model, technique) is one ``reportgen build`` (in this process, on the CPU, one image, a
cache shared by the sweep so a model's card and predictions are made once). Its seconds are the
technique's own step (model loading and predictions excluded). Results are merged into
``<out>.json`` by (model, technique), so the sweep can run in parts; ``<out>.md`` is rewritten from
the whole JSON each time. ``--fresh`` starts the JSON anew. Nothing here downloads weights.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportgen.core.progress import Progress  # noqa: E402

MAX_PICTURE_PX = 4096


class Recorder(Progress):
    """Progress that keeps, instead of printing, each step's duration and every message line."""

    def __init__(self):
        super().__init__(stream=open(os.devnull, "w"), interactive=False)
        self.steps: dict[str, float] = {}
        self.messages: list[str] = []
        self._current: tuple[str, float] | None = None

    def step(self, label: str, images: int = 0) -> None:
        self._close_step()
        self._current = (label, time.perf_counter())

    def message(self, text: str) -> None:
        self.messages.append(text)

    def _close_step(self) -> None:
        if self._current is not None:
            label, started = self._current
            self.steps[label] = time.perf_counter() - started
            self._current = None

    def close(self) -> None:
        self._close_step()


def sweep_one(model: str, technique: str, preset: str, inputs: Path, cache: Path) -> dict:
    from PIL import Image

    from reportgen.interface.config import BuildConfig
    from reportgen.core.pipeline import BuildError, build

    config = BuildConfig(input_dir=inputs, models=(model,), techniques=(technique,), cache_dir=cache,
                         preset=preset, device="cpu", weights="random", out=cache / "unused-site")
    recorder = Recorder()
    started = time.perf_counter()
    row = {"model": model, "technique": technique, "preset": preset}
    try:
        report = build(config, recorder)
    except BuildError as error:
        recorder.close()
        return {**row, "status": "error", "reason": str(error), "seconds": round(time.perf_counter() - started, 2)}
    except Exception as error:  # noqa: BLE001 - the sweep records any crash as a failure and goes on
        recorder.close()
        return {**row, "status": "crash", "reason": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}",
                "seconds": round(time.perf_counter() - started, 2)}
    recorder.close()
    from reportgen.core.cache import Cache
    from reportgen.models import card_for

    card = card_for(model, "random", Cache(cache))
    row["input"] = card.constraints
    seconds = sum(s for label, s in recorder.steps.items() if label.startswith(f"{technique} on "))
    widest = 0
    for artifact in report.manifest.artifacts:
        if artifact.technique != technique:
            continue
        for path in artifact.cache_files.values():
            if path.endswith((".png", ".gif")):
                with Image.open(cache / path) as picture:
                    widest = max(widest, *picture.size)
    explained = report.manifest.of(technique) if technique == "saliency" else ()  # only saliency has a CAM layer
    layers = {a.meta.cam_layer for a in explained if a.meta.cam_layer}
    if layers:
        row["cam_layer"] = ", ".join(f"{n} ({card.layer(n).layout})" for n in sorted(layers))
    skips = [s for s in report.unsupported if s.technique == technique]
    errors = [e for e in report.errors if f" {technique} on " in e]
    tracebacks = sum("Traceback" in m or 'File "' in m for m in recorder.messages)
    row.update(artifacts=len(report.manifest.of(technique)), seconds=round(seconds, 2), max_picture_px=widest,
               skips=[str(s) for s in skips], tracebacks=tracebacks)
    if errors:
        row.update(status="failed", reason=errors[0])
    elif skips and not row["artifacts"]:
        row.update(status="skipped", reason="; ".join(s.reason for s in skips))
    else:
        row.update(status="built", reason="; ".join(f"{s.variant}: {s.reason}" for s in skips))
    if widest > MAX_PICTURE_PX:
        row.update(status="too wide", reason=f"a picture is {widest} px")
    return row


def cell(row: dict) -> str:
    if row["status"] == "built":
        note = f" (skipped {row['reason']})" if row.get("reason") else ""
        return f"built {row['seconds']:.1f} s{note}"
    reason = row.get("reason", "").split(" failed: ", 1)[-1]  # the pipeline's line names technique and model
    return f"**{row['status']}**: {reason}".replace("|", "/")


def write_markdown(rows: list[dict], path: Path, meta: dict) -> None:
    from reportgen.techniques.base import registry

    models = list(dict.fromkeys(r["model"] for r in rows))
    order = list(registry())
    techniques = sorted(dict.fromkeys(r["technique"] for r in rows), key=lambda t: order.index(t) if t in order else len(order))
    table = {(r["model"], r["technique"]): r for r in rows}
    lines = [f"# Zoo sweep ({meta['preset']} preset, random weights, one image, CPU)", "",
             f"{meta['machine']}; torch {meta['torch']}, torchvision {meta['torchvision']}. "
             "Seconds are each technique's own step (model loading and predictions excluded). "
             f"Widest picture: {max((r.get('max_picture_px', 0) for r in rows), default=0)} px.", "",
             "| model | input (probed) | Grad-CAM layer (layout) | " + " | ".join(techniques) + " |",
             "|---" * (len(techniques) + 3) + "|"]
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        facts = [next((r[k] for r in mine if r.get(k)), "") for k in ("input", "cam_layer")]
        cells = [cell(table[model, t]) if (model, t) in table else "—" for t in techniques]
        lines.append(f"| {model} | " + " | ".join(facts + cells).replace("`", "") + " |")
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines += ["", "Totals: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), ""]
    path.write_text("\n".join(lines))


def main() -> int:
    from reportgen.models import available_models
    from reportgen.techniques.base import registry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated (default: every model of `reportgen list models`)")
    parser.add_argument("--techniques", default="", help="comma-separated (default: every gallery technique)")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--image", type=Path, default=ROOT / "inputs" / "cat.jpg")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "zoo")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results in <out>.json")
    args = parser.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()] or available_models()
    gallery = [n for n, t in registry().items() if t.gallery]
    techniques = [t.strip() for t in args.techniques.split(",") if t.strip()] or gallery
    json_path = args.out.with_suffix(".json")
    rows = [] if args.fresh or not json_path.exists() else json.loads(json_path.read_text())["rows"]
    import torch
    import torchvision

    meta = {"preset": args.preset, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads",
            "torch": torch.__version__, "torchvision": torchvision.__version__}
    work = Path(tempfile.mkdtemp(prefix="reportgen-zoo-"))
    try:
        inputs = work / "inputs"
        inputs.mkdir()
        shutil.copy(args.image, inputs / args.image.name)
        for model in models:
            for technique in techniques:
                row = sweep_one(model, technique, args.preset, inputs, work / "cache")
                print(f"{model:22s} {technique:14s} {cell(row)}", flush=True)
                rows = [r for r in rows if (r["model"], r["technique"]) != (model, technique)] + [row]
                json_path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
                write_markdown(rows, args.out.with_suffix(".md"), meta)
            shutil.rmtree(work / "cache", ignore_errors=True)  # one model's cache at a time
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["status"] in ("built", "skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
