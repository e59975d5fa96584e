"""Compare a build's artifacts with a baseline build: exact match first, then per-pixel tolerances.

Artifacts are matched through the two manifests by what they are (technique, variant, model, image
and spec), not by cache key, so a changed technique version or model still lines up with its old
self and is compared picture by picture; a changed parameter shows up as one artifact vanished
and one appeared. Never imports torch.

A baseline is a folder written by ``promote`` (``reportgen check BASELINE --update``):

    manifest.json         the site's manifest of the build it was made from
    a/...                 every picture that manifest names (the site's copies)
    raw/<key>.npz         the raw arrays, stored as float16 of array / peak plus the peak, so any
                          scale keeps 1/2048 of its peak (8x finer than one level of a picture);
                          ``--raw-limit`` leaves out big ones, whose artifacts are then checked
                          through their pictures only (a small baseline that can live in a repository)
    .reportgen-baseline   marker: only such folders are ever replaced

The report, ``regressions.html`` with its pictures under ``regressions/``, is written into the
build's site folder (``--out``) beside the gallery by ``report``.

The modules build on each other one way: ``types`` (the records) at the bottom, then ``builds``
(reading both sides, ``promote``), ``outcome`` and ``compare`` (the comparisons), then ``report``.
"""
from __future__ import annotations

from pathlib import Path

from reportgen.regress.builds import Baseline, Build, promote
from reportgen.regress.compare import compare
from reportgen.regress.report import write_report
from reportgen.regress.types import (MARKER, REPORT, REPORT_PICTURES, Comparison, Outcome, RegressionError,
                                     RoleDifference, SetCheck, Tolerance)

__all__ = ["MARKER", "REPORT", "REPORT_PICTURES", "Baseline", "Build", "Comparison", "Outcome", "RegressionError",
           "RoleDifference", "SetCheck", "Tolerance", "check", "compare", "promote", "write_report"]


def check(baseline_dir: Path, site_dir: Path, cache_dir: Path, tolerance: Tolerance) -> tuple[Outcome, Path]:
    """Compare the build in ``site_dir`` with the baseline and write the report; returns both."""
    baseline, build = Baseline(baseline_dir), Build(site_dir, cache_dir)
    outcome = compare(baseline, build, tolerance)
    return outcome, write_report(outcome, build, baseline_dir)

