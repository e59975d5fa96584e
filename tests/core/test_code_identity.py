"""The code identity in every cache key: reportgen's compute modules and the versions of the
libraries whose output enters a picture; the site, templates, command line and check are not in it."""
import shutil
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import reportgen
from reportgen.core import code_identity
from reportgen.core.code_identity import OTHER_LIBRARIES, PICTURE_LIBRARIES, compute_modules, third_party_imports

PACKAGE = Path(reportgen.__file__).parent


def test_compute_modules_are_what_techniques_run_and_nothing_that_only_shows_them():
    found = set(compute_modules())
    for module in ("techniques.saliency", "pictures.render", "optim.ascent", "attribution.methods", "models.hooks",
                   "models.folding", "pictures.images", "models.loading", "core.executors", "core.cache"):
        assert f"reportgen.{module}" in found, module
    for module in ("interface.cli", "interface.config", "gallery.site", "gallery.views", "gallery.formats",
                   "interface.api", "interface.listing", "interface.testing", "regress", "regress.compare",
                   "regress.machine_readable"):
        assert f"reportgen.{module}" not in found, module


def test_every_library_a_compute_module_imports_is_declared_as_shaping_pictures_or_not():
    """A library a new technique imports must be placed in PICTURE_LIBRARIES (its version keyed) or
    OTHER_LIBRARIES (never shaping a picture)."""
    distributions = packages_distributions()
    for name in third_party_imports() - set(sys.stdlib_module_names):
        owners = {d.lower().replace("-", "_") for d in distributions.get(name, [name])}
        assert owners & {*PICTURE_LIBRARIES, *OTHER_LIBRARIES}, f"{name} ({owners}) is in neither list"


@pytest.fixture
def package_copy(tmp_path) -> Path:
    copy = tmp_path / "reportgen"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def identity(root: Path) -> str:
    return code_identity._code_identity.__wrapped__(root)


@pytest.mark.parametrize("module", ["pictures/render.py", "optim/ascent.py", "models/hooks.py", "models/folding.py", "pictures/images.py",
                                   "attribution/methods.py", "models/probe.py", "techniques/filters.py"])
def test_a_change_in_a_compute_module_changes_the_identity(package_copy, module):
    before = identity(package_copy)
    with open(package_copy / module, "a") as source:
        source.write("\n# changed\n")
    assert identity(package_copy) != before


@pytest.mark.parametrize("module", ["gallery/site.py", "gallery/views.py", "interface/cli.py", "regress/compare.py", "interface/config.py"])
def test_a_change_in_what_only_shows_or_checks_pictures_keeps_it(package_copy, module):
    before = identity(package_copy)
    with open(package_copy / module, "a") as source:
        source.write("\n# changed\n")
    assert identity(package_copy) == before


def test_a_template_is_not_code(package_copy):
    """As installed from a wheel, the templates lie inside the package (reportgen/templates)."""
    shutil.copytree(PACKAGE.parent / "templates", package_copy / "templates")
    before = identity(package_copy)
    page = package_copy / "templates" / "base.html"
    page.write_text(page.read_text() + "<!-- changed -->\n")
    assert identity(package_copy) == before


def test_a_new_module_is_covered_once_a_compute_module_imports_it(package_copy):
    before = identity(package_copy)
    (package_copy / "extra_step.py").write_text("SCALE = 2\n")
    assert identity(package_copy) == before
    with open(package_copy / "pictures/render.py", "a") as source:
        source.write("\nfrom reportgen import extra_step  # noqa\n")
    first = identity(package_copy)
    (package_copy / "extra_step.py").write_text("SCALE = 3\n")
    assert identity(package_copy) != first


def test_an_import_for_type_checking_only_is_not_compute_code(package_copy):
    with open(package_copy / "pictures/render.py", "a") as source:
        source.write("\nimport typing\nif typing.TYPE_CHECKING:\n    from reportgen import site  # noqa\n")
    assert "reportgen.gallery.site" not in compute_modules(package_copy)


def test_a_new_minor_version_of_a_picture_library_changes_it_and_a_patch_release_does_not(monkeypatch, package_copy):
    before = identity(package_copy)
    real = code_identity.version
    major, minor, *_ = real("torch").split(".")
    monkeypatch.setattr(code_identity, "version", lambda name: f"{major}.{minor}.99" if name == "torch" else real(name))
    assert identity(package_copy) == before
    monkeypatch.setattr(code_identity, "version", lambda name: f"{major}.{int(minor) + 1}.0" if name == "torch" else real(name))
    assert identity(package_copy) != before


def test_a_build_after_a_code_change_recomputes_everything(tmp_path, monkeypatch):
    from helpers import write_inputs

    write_inputs(tmp_path / "inputs", size=(40, 32))

    def build():
        return reportgen.build(tmp_path / "inputs", models=["tiny"], techniques=["feature_maps", "filters"],
                               preset="quick", out=tmp_path / "site", cache_dir=tmp_path / "cache", device="cpu").report

    first = build()
    assert first.computed > 0 and first.cached == 0
    assert build().computed == 0
    monkeypatch.setattr("reportgen.core.pipeline.code_identity", lambda registered=(): "other code")
    monkeypatch.setattr("reportgen.models.describe.code_identity", lambda registered=(): "other code")
    again = build()
    assert again.cached == 0 and again.computed == first.computed


def test_a_technique_defined_outside_the_package_is_part_of_it(tmp_path, monkeypatch):
    """A plugin's (or a test module's) technique: an edit of the file that defines it recomputes."""
    import importlib.util

    from reportgen.techniques import base

    source = tmp_path / "outside_technique.py"
    text = ("from reportgen.techniques.filters import Filters\n\n\n"
            "class Outside(Filters):\n    name = 'outside_filters'\n")
    source.write_text(text)
    spec = importlib.util.spec_from_file_location("outside_technique", source)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "outside_technique", module)
    spec.loader.exec_module(module)
    before = code_identity.code_identity([type(t) for t in base.registry().values()])
    registered = code_identity.code_identity([type(t) for t in base.registry().values()] + [module.Outside])
    assert registered != before
    source.write_text(text + "    version = 2\n")
    assert code_identity.code_identity([module.Outside]) not in (before, registered)
