"""The typed core the front doors feed: defaults written once (in BuildConfig), typed overrides
checked with ``--set``'s errors, the package's public names, and one return type per function."""
import ast
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import reportgen
from helpers import write_inputs
from reportgen.interface.config import BuildConfig, ConfigError, FileSettings, build_config, default, load_config
from reportgen.techniques.base import registry

# Run in a fresh interpreter: reportgen.interface.config with two defaults changed in BuildConfig, then the
# command line's help, `list params`, a CLI build and an API build (both stopped where they would
# start computing) and the API's check folders, printed as JSON.
CHANGED_DEFAULTS = r"""
import importlib.util, json, sys
spec = importlib.util.find_spec("reportgen.interface.config")
source = spec.loader.get_source("reportgen.interface.config")
for old, new in [('preset: str = "standard"', 'preset: str = "quick"'), ('out: Path = Path("site")', 'out: Path = Path("gallery")')]:
    assert source.count(old) == 1, old
    source = source.replace(old, new)
module = importlib.util.module_from_spec(spec)
sys.modules["reportgen.interface.config"] = module
exec(compile(source, spec.origin, "exec"), module.__dict__)

from click.testing import CliRunner
import reportgen, reportgen.interface.api
from reportgen.interface.cli import main

built = []
def capture(config, progress=False):
    built.append(config)
    raise SystemExit(0)
reportgen.interface.api.build_with = capture
run = lambda *args: CliRunner().invoke(main, list(args)).output
run("build", sys.argv[1], "--techniques", "filters")
try:
    reportgen.build(sys.argv[1], techniques=["filters"])
except SystemExit:
    pass
print(json.dumps({"build_help": " ".join(run("build", "--help").split()), "check_help": run("check", "--help"),
                  "list_help": " ".join(run("list", "--help").split()), "params": run("list", "params", "filters"),
                  "cli": [built[0].preset, str(built[0].out)], "api": [built[1].preset, str(built[1].out)],
                  "check_folders": [str(folder) for folder in reportgen.interface.api._folders(None, None, None)]}))
"""

# A fresh interpreter imports the reportgen these tests import.
THIS_REPORTGEN = {**os.environ, "PYTHONPATH": str(Path(reportgen.__file__).parent.parent)}


def test_a_default_changed_in_build_config_shows_in_help_list_params_the_cli_and_the_api(tmp_path):
    write_inputs(tmp_path / "in")
    done = subprocess.run([sys.executable, "-c", CHANGED_DEFAULTS, str(tmp_path / "in")], capture_output=True,
                          text=True, cwd=tmp_path, env=THIS_REPORTGEN)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "[quick|standard|full] [default: quick]" in seen["build_help"]
    assert "Gallery folder [default: gallery]" in seen["build_help"]
    assert "[default: gallery]" in seen["check_help"] and "preset [default: quick]" in seen["list_help"]
    assert "default preset: quick" in seen["params"].splitlines()[0]
    assert seen["cli"] == seen["api"] == ["quick", "gallery"]
    assert seen["check_folders"] == ["gallery", ".reportgen-cache"]


def test_the_defaults_are_build_configs_fields():
    assert default("preset") == BuildConfig.__dataclass_fields__["preset"].default == "standard"
    assert default("input") is None and default("examples") is None and default("overrides") == {}
    config = build_config({"input": "in"}, FileSettings(), registry())
    assert (config.preset, config.out, config.models) == (default("preset"), default("out"), default("models"))


def test_api_overrides_are_kept_typed_without_reading_them_as_text():
    config = build_config({"input": "in"}, FileSettings(), registry(),
                          overrides={"saliency": {"methods": ["gradcam"], "smoothgrad_noise": 1,
                                                  "smoothgrad_samples": 3},
                                     "feature_maps": {"layers": ("features.0,features.2",)}})
    assert config.overrides["saliency"] == {"methods": ("gradcam",), "smoothgrad_noise": 1.0, "smoothgrad_samples": 3}
    assert isinstance(config.overrides["saliency"]["smoothgrad_noise"], float)
    assert config.overrides["feature_maps"]["layers"] == ("features.0,features.2",)  # one name, never split


def test_a_typed_override_wins_over_set_and_the_config_file(tmp_path):
    (tmp_path / "g.toml").write_text('input = "in"\n[overrides.filters]\nmax_filters = 2\ndeep_filters = 3\n')
    config = build_config({}, load_config(tmp_path / "g.toml"), registry(), ["filters.max_filters=5"],
                          overrides={"filters": {"max_filters": 4}})
    assert config.overrides["filters"] == {"max_filters": 4, "deep_filters": 3}


@pytest.mark.parametrize("overrides,text,reason", [
    ({"saliency": {"smoothgrad_samples": "many"}}, "saliency.smoothgrad_samples=many",
     "bad value 'many' for smoothgrad_samples: "),
    ({"saliency": {"colour": 1}}, "saliency.colour=1", "unknown parameter 'colour'; `reportgen list params saliency` lists all"),
    ({"astrology": {"stars": 1}}, "astrology.stars=1", "unknown technique 'astrology'; valid: "),
])
def test_bad_api_overrides_get_sets_one_line_error_naming_the_argument(tmp_path, overrides, text, reason):
    with pytest.raises(ConfigError) as from_set:
        build_config({"input": "in"}, FileSettings(), registry(), [text])
    write_inputs(tmp_path / "in")
    with pytest.raises(reportgen.ParamError) as from_api:
        reportgen.build(tmp_path / "in", models="tiny", out=tmp_path / "site", cache_dir=tmp_path / "cache",
                        overrides=overrides)
    technique, values = next(iter(overrides.items()))
    label = f"overrides[{technique!r}][{next(iter(values))!r}]: "
    api, cli = str(from_api.value), str(from_set.value)
    assert "\n" not in api and api.startswith(label + reason) and cli.startswith(f"--set {text!r}: {reason}")
    if reason.startswith("unknown"):
        assert api.removeprefix(label) == cli.removeprefix(f"--set {text!r}: ")  # word for word
    assert not (tmp_path / "site").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("param,value,expected", [
    ("methods", "gradcam", "bad value 'gradcam' for methods: expected a list of str"),
    ("methods", ["gradcam", 3.5], "bad value ['gradcam', 3.5] for methods: expected str"),
    ("smoothgrad_samples", 2.5, "bad value 2.5 for smoothgrad_samples: expected int"),
    ("smoothgrad_samples", True, "bad value True for smoothgrad_samples: expected int"),
    ("smoothgrad_noise", "0.1", "bad value '0.1' for smoothgrad_noise: expected float"),
])
def test_a_field_takes_only_a_value_of_its_type(param, value, expected):
    with pytest.raises(ConfigError) as raised:
        build_config({"input": "in"}, FileSettings(), registry(), overrides={"saliency": {param: value}})
    assert str(raised.value) == f"overrides['saliency'][{param!r}]: {expected}"


def test_class_indices_may_be_written_as_numbers(tmp_path):
    (tmp_path / "g.toml").write_text('input = "in"\n[overrides.class_ascent]\nclasses = [52, "tabby"]\n')
    config = build_config({}, load_config(tmp_path / "g.toml"), registry())
    assert config.overrides["class_ascent"]["classes"] == ("52", "tabby")


def test_a_config_file_override_is_checked_against_the_type_naming_file_and_key(tmp_path):
    (tmp_path / "g.toml").write_text('input = "in"\n[overrides.filters]\nmax_filters = true\n')
    with pytest.raises(ConfigError) as raised:
        build_config({}, load_config(tmp_path / "g.toml"), registry())
    assert str(raised.value) == f"{tmp_path / 'g.toml'}: overrides.filters.max_filters: bad value True for max_filters: expected int"


def test_dir_lists_the_public_names_and_type_checkers_see_each_one():
    public = {"build", "check", "update_baseline", "Gallery", "BuildConfig", "ModelSpec", "BuildError", "ParamError",
              "Outcome", "RegressionError", "explain", "Explanation", "ExplainedClass"}
    assert set(reportgen.__all__) == public and public <= set(dir(reportgen))
    assert all(getattr(reportgen, name).__name__ == name for name in public)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        reportgen.nothing  # noqa: B018
    tree = ast.parse(Path(reportgen.__file__).read_text())
    checked = [node for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)]
    (block,) = checked
    imported = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module.startswith("reportgen")]
    # what type checkers import: the names imported on first use, and those imported with the package
    assert {alias.name for node in [*block.body, *imported] for alias in node.names} == public
    script = ("import sys, reportgen; names = dir(reportgen); "
              "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'import reportgen is heavy'")
    subprocess.run([sys.executable, "-c", script], check=True, env=THIS_REPORTGEN)


def test_check_returns_an_outcome_in_every_case_and_update_baseline_a_count(tmp_path):
    assert inspect.signature(reportgen.check).return_annotation == "Outcome"
    assert inspect.signature(reportgen.update_baseline).return_annotation == "int"
    write_inputs(tmp_path / "in")
    settings = dict(models="tiny", techniques="filters", preset="quick", device="cpu", cache_dir=tmp_path / "cache")
    reportgen.build(tmp_path / "in", out=tmp_path / "site", **settings)
    count = reportgen.update_baseline(tmp_path / "baseline", out=tmp_path / "site", cache_dir=tmp_path / "cache")
    assert isinstance(count, int) and count > 0
    passed = reportgen.check(tmp_path / "baseline", out=tmp_path / "site", cache_dir=tmp_path / "cache")
    reportgen.build(tmp_path / "in", out=tmp_path / "moved", overrides={"filters": {"max_filters": 4}}, **settings)
    failed = reportgen.check(tmp_path / "baseline", out=tmp_path / "moved", cache_dir=tmp_path / "cache",
                             tolerances={"pixel": 0})
    assert isinstance(passed, reportgen.Outcome) and passed.passed
    assert isinstance(failed, reportgen.Outcome) and not failed.passed and failed.appeared and failed.vanished
    with pytest.raises(reportgen.RegressionError):
        reportgen.check(tmp_path / "absent", out=tmp_path / "site", cache_dir=tmp_path / "cache")


def test_check_reads_its_folders_from_a_config_file(tmp_path):
    write_inputs(tmp_path / "in")
    (tmp_path / "g.toml").write_text('input = "in"\nmodels = ["tiny"]\ntechniques = ["filters"]\npreset = "quick"\n'
                                     'out = "gallery"\ncache_dir = "store"\ndevice = "cpu"\n')
    reportgen.build(config=tmp_path / "g.toml")
    assert reportgen.update_baseline(tmp_path / "baseline", config=tmp_path / "g.toml") > 0
    assert reportgen.check(tmp_path / "baseline", config=tmp_path / "g.toml").passed
    assert (tmp_path / "gallery" / "regressions.html").is_file()
