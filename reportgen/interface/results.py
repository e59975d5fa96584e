"""What ``reportgen build`` prints on stdout: the dry run's plan as a table, or either result as one
JSON document (``--format json``) for scripts and notebooks; messages go to stderr."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reportgen.core.dry_run import DryRun


def plan_table(plan: DryRun) -> list[str]:
    """The dry run as a table, a row per model and technique."""
    header = f"{'model':20} {'technique':16} {'jobs':>6} {'cached':>7} {'GFLOP':>10} {'time':>8}"
    return [header, *(f"{w.model:20} {w.technique:16} {w.jobs:6d} {w.cached:7d} {w.gflop:10,.1f} {w.seconds:7.1f}s"
                      for w in plan.work)]


def plan_messages(plan: DryRun) -> list[str]:
    """What the build would skip and why, and what is not ready (for stderr)."""
    return [*(str(item) for item in [*plan.skipped, *plan.unsupported]), *plan.notes]


def plan_json(plan: DryRun) -> str:
    work = [{"model": w.model, "technique": w.technique, "jobs": w.jobs, "cached": w.cached,
             "to_compute": w.jobs - w.cached, "gflop": round(w.gflop, 3), "seconds": round(w.seconds, 3)}
            for w in plan.work]
    jobs, cached = sum(w.jobs for w in plan.work), sum(w.cached for w in plan.work)
    return _dumps({
        "dry_run": True,
        "summary": {"artifacts": jobs, "cached": cached, "to_compute": jobs - cached,
                    "gflop": round(sum(w.gflop for w in plan.work), 3),
                    "seconds": round(sum(w.seconds for w in plan.work), 3),
                    "skipped_inputs": len(plan.skipped), "unsupported": len(plan.unsupported)},
        "work": work,
        **_skips(plan.skipped, plan.unsupported),
        "notes": plan.notes,
    })


def build_json(gallery: Any) -> str:
    """A finished build (``api.Gallery``): its counts, skips, failures, and where its site and manifest are."""
    report = gallery.report
    return _dumps({
        "dry_run": False,
        "summary": {"artifacts": report.total, "computed": report.computed, "cached": report.cached,
                    "skipped_inputs": len(report.skipped), "unsupported": len(report.unsupported),
                    "failed": len(report.errors)},
        **_skips(report.skipped, report.unsupported),
        "failures": list(report.errors),
        "log": str(report.log) if report.log else None,
        "site": str(gallery.out),
        "manifest": str(Path(gallery.out) / "manifest.json"),
    })


def _skips(inputs, unsupported) -> dict[str, Any]:
    return {"skipped_inputs": [{"name": item.name, "reason": item.reason} for item in inputs],
            "unsupported": [{"model": s.model, "technique": s.technique, "variant": s.variant, "reason": s.reason}
                            for s in unsupported]}


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1)
