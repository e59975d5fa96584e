"""The package's requirements are ranges a user can live with; CI pins the tested versions. The wheel
holds every package of reportgen and its templates (read from pyproject.toml, nothing built: .ci/wheel
builds, installs and runs the wheel)."""
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
    assert any(e.value == "reportgen.interface.testing" for e in entry_points(group="pytest11"))


def _setuptools():
    """The [tool.setuptools] table as setuptools reads it (packages.find, if used, expanded)."""
    from setuptools.config.pyprojecttoml import read_configuration

    return read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]


def _source_folder(package, package_dir):
    """The folder setuptools takes ``package`` from: its longest prefix named in package-dir."""
    parts = package.split(".")
    for length in range(len(parts), -1, -1):
        prefix = ".".join(parts[:length])
        if prefix in package_dir or length == 0:
            return ROOT / package_dir.get(prefix, "") / Path(*parts[length:])


def test_every_package_folder_of_reportgen_goes_into_the_wheel_and_nothing_else():
    config = _setuptools()
    packages, package_dir = set(config["packages"]), config.get("package-dir", {})
    folders = {init.parent.relative_to(ROOT).as_posix().replace("/", ".")
               for init in (ROOT / "reportgen").rglob("__init__.py")}
    assert "reportgen.regress" in folders
    assert folders <= packages, f"missing from the wheel: {sorted(folders - packages)}"
    assert all(name == "reportgen" or name.startswith("reportgen.") for name in packages), sorted(packages)
    for name in packages:
        assert (_source_folder(name, package_dir) / "__init__.py").is_file(), name


def test_the_templates_package_is_the_templates_folder_and_ships_every_template():
    config = _setuptools()
    folder = _source_folder("reportgen.templates", config.get("package-dir", {}))
    assert folder == ROOT / "templates" and "reportgen.templates" in config["packages"]
    shipped = {path for pattern in config["package-data"]["reportgen.templates"] for path in folder.glob(pattern)}
    templates = {path for path in folder.rglob("*")
                 if path.is_file() and path.suffix not in (".py", ".pyc")}
    assert folder / "base.html" in templates and folder / "style.css" in templates
    assert templates <= shipped, f"not in the wheel: {sorted(str(p) for p in templates - shipped)}"
    assert "py.typed" in config["package-data"]["reportgen"] and (ROOT / "reportgen" / "py.typed").is_file()
