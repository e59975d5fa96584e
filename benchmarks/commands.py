"""Whole commands, cold, against an earlier version of reportgen in the same run.

    python benchmarks/commands.py --against REF [--rows main,showcase] [--json benchmarks/commands.json]
    python benchmarks/commands.py --against REF --rows main --versions current   # keeps the recorded earlier row

Rows (each a `reportgen build` of `inputs/` into a fresh cache and site):
- ``main``: the mission's command, ``--models vgg16,resnet50 --weights random`` (standard preset);
- ``showcase``: the committed showcase, both embedded models, standard preset.

Each row runs with the working tree and then with the earlier version (``REF``, a git commit or
tag, checked out into a temporary worktree and run from there with this interpreter), one after the
other on an otherwise idle machine; the first build of the run also pays for cold imports. Recorded: wall seconds, the peak resident memory of the build
process, the artifact count, and the picture-quality measures of ``quality.py`` (robust class
models recognised by another model, octave dreams' change and grain) for the showcase, so that
speed is never bought with worse pictures. The ratio is this version over the earlier one. Each
build records its commit and when it ran; ``--versions current`` rebuilds only the working tree
and sets it against the earlier build already recorded for that row.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = {
    "main": ["--models", "vgg16,resnet50", "--weights", "random"],
    "showcase": ["--models", "efficientnet_lite0,efficientnet_lite2"],
}


def build(source: Path, arguments: list[str], work: Path) -> dict:
    """One cold build with the reportgen found at ``source``: seconds, peak RSS, artifacts."""
    site, cache = work / "site", work / "cache"
    # Each version renders with its own templates: an editable install would otherwise hand the
    # earlier version this checkout's (``reportgen.templates`` resolves to the installed package).
    command = [sys.executable, "-c", "import pathlib, sys; import reportgen.gallery.site as site; "
               "templates = pathlib.Path(sys.argv.pop(1)); site.templates_dir = lambda: templates; "
               "from reportgen.interface.cli import main; sys.exit(main())", str(source / "templates"),
               "build", str(ROOT / "inputs"), *arguments, "--preset", "standard", "--quiet",
               "--out", str(site), "--cache-dir", str(cache)]
    environment = {**os.environ, "PYTHONPATH": str(source)}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=work, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    output = process.stdout.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"build with {source} failed:\n{output[-3000:]}")
    manifest = json.loads((site / "manifest.json").read_text())
    return {"seconds": round(seconds, 1), "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
            "artifacts": len(manifest["artifacts"]), "site": str(site)}


def quality(site: str) -> dict:
    """quality.py's summaries of a built site."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import quality as measures

    report = measures.measure(Path(site), ROOT / "inputs")
    return {section: {model: values["summary"] for model, values in report[section].items()}
            for section in ("class_ascent", "deep_dream")}


def checkout(ref: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), ref], check=True,
                   capture_output=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the earlier version: a git commit or tag")
    parser.add_argument("--rows", default="main,showcase")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "commands.json")
    parser.add_argument("--work", type=Path, help="keep each build's site and cache here (default: a temporary folder)")
    parser.add_argument("--versions", default="current,earlier", help="which builds to run; others come from --json")
    args = parser.parse_args(argv)
    versions = args.versions.split(",")
    recorded = json.loads(args.json.read_text()) if args.json.exists() else {"rows": {}}
    results = {"against": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.against],
                                         check=True, capture_output=True, text=True).stdout.strip(),
               "current": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                         check=True, capture_output=True, text=True).stdout.strip(),
               "cpus": os.cpu_count(), "rows": {}}
    with tempfile.TemporaryDirectory() as temporary:
        root = args.work or Path(temporary)
        earlier = checkout(args.against, Path(temporary) / "earlier")
        try:
            for row in args.rows.split(","):
                measured = {}
                for version, source in (("current", ROOT), ("earlier", earlier)):
                    if version not in versions:
                        if recorded.get("against") != results["against"] or version not in recorded["rows"].get(row, {}):
                            raise SystemExit(f"no recorded {version} build of {row} against {results['against']} in {args.json}")
                        measured[version] = recorded["rows"][row][version]
                        continue
                    work = root / f"{row}-{version}"
                    work.mkdir(parents=True)
                    measured[version] = {"commit": results["current"] if version == "current" else results["against"],
                                         "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                         **build(source, ROWS[row], work)}
                    if row == "showcase":
                        measured[version]["quality"] = quality(measured[version].pop("site"))
                    else:
                        measured[version].pop("site")
                    print(row, version, json.dumps(measured[version]), flush=True)
                measured["time_ratio"] = round(measured["current"]["seconds"] / measured["earlier"]["seconds"], 2)
                results["rows"][row] = measured
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(earlier)], capture_output=True)
    results["rows"] = {**recorded["rows"], **results["rows"]} if recorded.get("against") == results["against"] else results["rows"]
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
