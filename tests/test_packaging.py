"""The package's requirements are ranges a user can live with; CI pins the tested versions."""
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

from packaging.requirements import Requirement

import reportgen

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins():
    lines = [line.split("#")[0].strip() for line in (ROOT / "constraints.txt").read_text().splitlines()]
    return {Requirement(line).name.lower(): Requirement(line) for line in lines if line}


def test_requirements_have_no_upper_cap_at_a_patch_release():
    for text in _project()["dependencies"]:
        requirement = Requirement(text)
        for spec in requirement.specifier:
            assert spec.operator not in ("<=", "==", "~=") or requirement.name.startswith("efficientnet"), text


def test_constraints_pin_every_requirement_within_its_range():
    project, pins = _project(), _pins()
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pin = pins[requirement.name.lower()]
        (pinned,) = [spec.version for spec in pin.specifier if spec.operator == "=="]
        assert requirement.specifier.contains(pinned, prereleases=True), (text, str(pin))


def test_the_version_has_one_source_and_the_pytest_plugin_is_registered():
    assert "version" in _project()["dynamic"] and "version" not in _project()
    assert version("reportgen") == reportgen.__version__
    assert any(e.value == "reportgen.testing" for e in entry_points(group="pytest11"))
