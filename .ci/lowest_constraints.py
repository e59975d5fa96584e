"""Print pip constraints that pin every requirement of pyproject.toml (the dependencies and the
test extra) at its lower bound: ``name>=X`` becomes ``name==X``, ``name==X`` stays, markers are
kept. CI's lowest-versions job installs with them, so the lower bounds the package claims are the
versions it is tested with, read from the one place they are written."""
from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<bounds>[^;]*?)\s*(?:;\s*(?P<marker>.+))?$")


def lowest(requirement: str) -> str:
    """One requirement pinned at its lower bound (``==`` or ``>=``); one without a lower bound is an error."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise SystemExit(f"error: cannot read requirement {requirement!r} in pyproject.toml")
    bound = re.search(r"(?:==|>=)\s*([^,\s]+)", match["bounds"])
    if bound is None:
        raise SystemExit(f"error: {requirement!r} in pyproject.toml has no lower bound (>= or ==) to test")
    marker = f"; {match['marker']}" if match["marker"] else ""
    return f"{match['name']}=={bound.group(1)}{marker}"


def main() -> None:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        print(lowest(requirement))


if __name__ == "__main__":
    main()
