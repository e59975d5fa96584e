"""The regression report: ``regressions.html`` with its pictures under ``regressions/``, written
into the build's site folder beside the gallery, so it can link the gallery's pages."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from reportgen.pictures import render
from reportgen.core.artifacts import File
from reportgen.gallery.page_views import Chrome, context
from reportgen.techniques.shared_view import Grid
from reportgen.regress.builds import Build
from reportgen.regress.types import REPORT, REPORT_PICTURES, Outcome
from reportgen.core.staging import atomic_write_bytes


def write_report(outcome: Outcome, build: Build, baseline_dir: Path) -> Path:
    """``regressions.html`` in the site folder: baseline, new and a diff heat map for every moved picture."""
    from reportgen.gallery.site import environment

    pictures = build.root / REPORT_PICTURES
    shutil.rmtree(pictures, ignore_errors=True)
    moved = []
    for number, comparison in enumerate(outcome.moved, start=1):
        shown = []
        for difference in comparison.differences:
            if difference.within:
                continue
            files: dict[str, File] = {}
            if difference.frames is not None:
                before, after = difference.frames
                drawn = {"baseline": before, "new": after}
                if before.shape == after.shape:
                    drawn["difference"] = heat_map(before, after)
                for name, picture in drawn.items():
                    relative = f"{REPORT_PICTURES}/{number:04d}-{render_name(difference.role)}-{name}.png"
                    atomic_write_bytes(build.root / relative, render.png_bytes(picture))
                    files[name] = File(relative, picture.shape[1], picture.shape[0])
            shown.append({"role": difference.role, "text": difference.describe(), "files": files,
                          "peak": difference.largest if difference.frames is not None and not difference.note else None,
                          "loss": bool(difference.note)})
        shown += [{"role": d.role, "text": d.describe(), "files": {}, "peak": None, "loss": False}
                  for d in comparison.outcome or []]
        moved.append({"artifact": comparison.current, "differences": shown, "by_outcome": comparison.outcome is not None,
                      "losses": bool(comparison.losses)})
    site = build.manifest
    chrome = Chrome.of(site, Grid(()))
    html = environment().get_template("regressions.html").render(
        context(chrome), nav=chrome.nav(), base="", outcome=outcome, moved=moved, baseline=str(baseline_dir), tolerance=outcome.tolerance,
        within=[c for c in outcome.compared if not c.identical and not c.moved],
    )
    path = build.root / REPORT
    atomic_write_bytes(path, html.encode("utf-8"))
    return path


def render_name(role: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in role)[:40] or "x"


def heat_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per-pixel largest channel difference, scaled to the largest one, through a colour map."""
    levels = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=-1).astype(np.float64)
    return render.colourise(levels / max(levels.max(), 1.0), "viridis")
