"""A regression check's outcome for machines: JSON (``passed``, counts, each artifact that moved,
appeared or vanished) and JUnit XML (one testcase per artifact), as CI systems read them.
Reads the outcome by attribute only (``regress.Outcome``), so it follows that module's types."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any
from xml.etree import ElementTree

FORMATS = ("text", "json", "junit")


def counts(outcome: Any) -> dict[str, int]:
    identical = sum(comparison.identical for comparison in outcome.compared)
    moved = len(outcome.moved)
    return {"compared": len(outcome.compared), "identical": identical,
            "within": len(outcome.compared) - identical - moved, "moved": moved,
            "appeared": len(outcome.appeared), "vanished": len(outcome.vanished),
            "sets": len(outcome.sets), "sets_moved": sum(check.moved for check in outcome.sets)}


def as_json(outcome: Any, report: str | None = None) -> str:
    document = {
        "passed": outcome.passed,
        "counts": counts(outcome),
        "summary": outcome.summary(),
        "tolerance": dataclasses.asdict(outcome.tolerance),
        "moved": [{**_artifact(comparison.current), "differences": [_difference(d) for d in comparison.failures]}
                  for comparison in outcome.moved],
        "appeared": [_artifact(artifact) for artifact in outcome.appeared],
        "vanished": [_artifact(artifact) for artifact in outcome.vanished],
        "sets_moved": [{"set": check.describe(), "differences": [_difference(d) for d in check.differences if not d.within]}
                       for check in outcome.sets if check.moved],
        "report": report,
    }
    return json.dumps(document, indent=2, allow_nan=False)  # every measure went through _number


def as_junit(outcome: Any, name: str = "reportgen check") -> str:
    """One testcase per artifact (compared, appeared, vanished) and per chaotic set; a failure for
    each that moved, appeared or vanished."""
    cases: list[tuple[str, str, str | None]] = []  # (class name, test name, failure or None)
    for comparison in outcome.compared:
        moved_by = "; ".join(d.describe() for d in comparison.failures)
        cases.append((*_case(comparison.current), f"moved: {moved_by}" if comparison.moved else None))
    cases += [(*_case(artifact), "appeared: not in the baseline") for artifact in outcome.appeared]
    cases += [(*_case(artifact), "vanished: in the baseline, not in this build") for artifact in outcome.vanished]
    cases += [(f"sets.{check.technique}", check.describe(),
               "moved as a set: " + "; ".join(d.describe() for d in check.differences if not d.within) if check.moved
               else None) for check in outcome.sets]
    failures = str(sum(failure is not None for *_, failure in cases))
    suites = ElementTree.Element("testsuites", name=name, tests=str(len(cases)), failures=failures)
    suite = ElementTree.SubElement(suites, "testsuite", name=name, tests=str(len(cases)), failures=failures,
                                   errors="0", skipped="0")
    for classname, test, failure in cases:
        case = ElementTree.SubElement(suite, "testcase", classname=classname, name=test)
        if failure is not None:
            ElementTree.SubElement(case, "failure", message=failure.split(";")[0], type="regression").text = failure
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def _case(artifact: Any) -> tuple[str, str]:
    return f"{artifact.technique}.{artifact.model}", artifact.describe()


def _artifact(artifact: Any) -> dict[str, Any]:
    return {"artifact": artifact.describe(), "technique": artifact.technique, "variant": artifact.variant,
            "model": artifact.model, "image": artifact.image, "key": artifact.key, "anchor": artifact.anchor}


def _difference(difference: Any) -> dict[str, Any]:
    return {"role": difference.role, "kind": difference.kind, "largest": _number(difference.largest),
            "changed": _number(difference.changed), "note": difference.note, "loss": bool(difference.note),
            "text": difference.describe()}


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity."""
    value = float(value)
    return value if math.isfinite(value) else None
