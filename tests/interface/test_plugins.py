"""Techniques and saliency methods of other packages, found through their entry points
(``reportgen.interface.plugins``): the example plugin (examples/plugin) as if installed, its own tests run
with it, and plugins that cannot be loaded."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import reportgen
from reportgen.core import meta
from reportgen.interface import plugins
from reportgen.gallery import site
from reportgen.attribution import methods
from reportgen.interface.cli import main
from reportgen.interface.config import tomllib
from reportgen.techniques import base

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin"
CHECKOUT = Path(reportgen.__file__).resolve().parent.parent  # this process's reportgen, for a subprocess too


def installed(folder: Path) -> Path:
    """A folder that makes examples/plugin look installed when on the path, as ``pip install -e``
    does: a dist-info folder holding the entry points its pyproject.toml declares."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    info = folder / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in project["entry-points"].items()))
    return folder


@pytest.fixture
def unread(monkeypatch):
    """The entry points are read again; what they register is forgotten after the test (the
    registries are shared by every test of the session)."""
    techniques, saliency_methods, declared = dict(base._REGISTRY), dict(methods.METHODS), dict(meta._DECLARED)
    monkeypatch.setattr(plugins, "_READ", set())
    yield
    for registry, before in ((base._REGISTRY, techniques), (methods.METHODS, saliency_methods), (meta._DECLARED, declared)):
        registry.clear()
        registry.update(before)
    for name in [name for name in sys.modules if name.split(".")[0] == "reportgen_example"]:
        del sys.modules[name]


@pytest.fixture
def example(unread, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(installed(tmp_path / "site-packages")))


def test_the_example_plugin_is_found_at_start_up(example):
    found = base.registry()
    assert list(found)[-1] == "occlusion"
    assert list(methods.METHODS)[-1] == "squared_gradient"
    assert EXAMPLE / "reportgen_example" in site.template_folders()  # its page's template, beside its code
    listed = CliRunner().invoke(main, ["list", "params", "occlusion"])
    assert listed.exit_code == 0 and "patch (float) = 0.25" in listed.stdout, listed.output
    assert base.registry() == found  # read once: nothing is registered twice


def test_the_example_plugins_own_tests_pass_with_it_installed(tmp_path):
    paths = [installed(tmp_path / "site-packages"), EXAMPLE, CHECKOUT]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    run = subprocess.run([sys.executable, "-m", "pytest", str(EXAMPLE), "-q", "-p", "no:cacheprovider",
                          f"--basetemp={tmp_path / 'tests'}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


class Loaded:
    """An entry point whose ``load`` gives ``found`` (or raises it)."""

    def __init__(self, name: str, found: object):
        self.name, self.value, self.found = name, f"elsewhere:{name}", found

    def load(self) -> object:
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


def test_a_plugin_that_cannot_be_added_is_named_in_one_line_and_left_out(unread, monkeypatch):
    class Impostor(base.Technique):
        name, Meta = "saliency", meta.Meta

    points = {
        plugins.TECHNIQUES: [metadata.EntryPoint("missing", "reportgen_no_such_plugin:Thing", plugins.TECHNIQUES),
                             Loaded("broken", SyntaxError("invalid syntax (thing.py, line 3)")),
                             Loaded("function", len), Loaded("impostor", Impostor)],
        plugins.SALIENCY_METHODS: [Loaded("technique", Impostor)],
    }
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: points[group])
    listed = CliRunner().invoke(main, ["list", "params", "saliency"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stderr.splitlines()
    assert lines == [
        "warning: plugin technique (elsewhere:technique, entry point group reportgen.saliency_methods) left out: "
        "TypeError: elsewhere:technique is not a SaliencyMethod subclass",
        "warning: plugin missing (reportgen_no_such_plugin:Thing, entry point group reportgen.techniques) left out: "
        "ModuleNotFoundError: No module named 'reportgen_no_such_plugin'",
        "warning: plugin broken (elsewhere:broken, entry point group reportgen.techniques) left out: "
        "SyntaxError: invalid syntax (thing.py, line 3)",
        "warning: plugin function (elsewhere:function, entry point group reportgen.techniques) left out: "
        "TypeError: elsewhere:function is not a Technique subclass",
        "warning: plugin impostor (elsewhere:impostor, entry point group reportgen.techniques) left out: "
        "ValueError: technique 'saliency' registered twice",
    ]
    assert type(base.registry()["saliency"]).__name__ == "Saliency"
    asked = CliRunner().invoke(main, ["list", "params", "missing"])
    assert asked.exit_code == 2 and "missing" in asked.stderr and "Traceback" not in asked.output
