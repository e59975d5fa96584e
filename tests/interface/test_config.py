"""The gallery's config file: found, merged under the flags, and checked with errors naming file and key."""
import json

import pytest
from click.testing import CliRunner

from helpers import write_inputs
from reportgen.interface.cli import main
from reportgen.interface.config import ConfigError, FileSettings, build_config, find_config, load_config
from reportgen.techniques.base import registry

TINY = """input = "pictures"
models = ["tiny"]
techniques = ["feature_maps", "filters"]
preset = "quick"
out = "gallery"
cache_dir = "store"
device = "cpu"

[overrides.feature_maps]
layers = ["features.0", "features.2"]
"""


def run(*args, **env):
    return CliRunner().invoke(main, [str(a) for a in args], env=env or None)


def test_build_with_no_arguments_uses_the_config_file_here(tmp_path):
    write_inputs(tmp_path / "pictures")
    (tmp_path / "reportgen.toml").write_text(TINY)
    result = run("build")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "gallery" / "manifest.json").read_text())
    assert {m["name"] for m in manifest["models"]} == {"tiny"} and manifest["preset"] == "quick"
    assert manifest["overrides"] == {"feature_maps": {"layers": ["features.0", "features.2"]}}
    assert (tmp_path / "store" / "objects").is_dir() and not (tmp_path / "site").exists()


def test_flags_override_the_file_and_set_merges_per_parameter(tmp_path):
    (tmp_path / "reportgen.toml").write_text(TINY)
    file = load_config(find_config(None))
    config = build_config({"out": tmp_path / "elsewhere", "preset": "standard"}, file, registry(),
                          ["feature_maps.layers=features.4", "filters.max_filters=4"])
    assert config.out == tmp_path / "elsewhere" and config.preset == "standard"
    assert config.cache_dir.as_posix() == "store" and config.models == ("tiny",)
    assert config.overrides["feature_maps"]["layers"] == ("features.4",)
    assert config.overrides["filters"]["max_filters"] == 4


def test_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gallery.toml").write_text(TINY)
    config = build_config({}, load_config(tmp_path / "conf" / "gallery.toml"), registry())
    assert config.input_dir == tmp_path / "conf" / "pictures" and config.out == tmp_path / "conf" / "gallery"


def test_pyproject_table_is_read_when_there_is_no_reportgen_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.reportgen]\ninput = "in"\npreset = "quick"\n')
    path = find_config(None)
    assert path is not None and path.name == "pyproject.toml"
    config = build_config({}, load_config(path), registry())
    assert config.preset == "quick" and config.input_dir.as_posix() == "in"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(None) is None


@pytest.mark.parametrize("text,expected", [
    ('colour = "red"\n', "reportgen.toml: unknown key 'colour'; valid: input, models"),
    ('preset = 3\n', "reportgen.toml: preset has the wrong type (int)"),
    ('preset = "huge"\n', "reportgen.toml: preset: unknown preset 'huge'; valid: quick, standard, full"),
    ('weights = "magic"\n', "reportgen.toml: weights: unknown weights 'magic'"),
    ('animation = "mp4"\n', "reportgen.toml: animation: unknown animation 'mp4'; valid: gif, webp"),
    ('techniques = ["astrology"]\n', "reportgen.toml: techniques: unknown technique 'astrology'"),
    ('[overrides.feature_maps]\nnope = 1\n', "reportgen.toml: overrides.feature_maps.nope: unknown parameter 'nope'"),
    ('[overrides.tarot]\ncards = 1\n', "reportgen.toml: overrides.tarot.cards: unknown technique 'tarot'"),
    ('preset = "quick\n', "reportgen.toml: not valid TOML"),
])
def test_errors_name_the_file_and_the_key(tmp_path, text, expected):
    write_inputs(tmp_path / "inputs")
    (tmp_path / "reportgen.toml").write_text('input = "inputs"\n' + text)
    result = run("build")
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert expected in line, line


def test_the_animation_format_comes_from_the_flag_the_environment_or_the_file(tmp_path):
    """GIF by default (BuildConfig's), WebP where asked for; the flag's choices are listed."""
    given = {"input": str(tmp_path)}
    assert build_config(given, FileSettings(), registry()).animation == "gif"
    assert build_config(given, FileSettings(values={"animation": "webp"}), registry()).animation == "webp"
    assert build_config({**given, "animation": "gif"}, FileSettings(values={"animation": "webp"}),
                        registry()).animation == "gif"
    write_inputs(tmp_path / "inputs")
    flag = run("build", "inputs", "--animation", "apng")
    assert flag.exit_code == 2 and "'gif', 'webp'" in flag.output
    env = run("build", "inputs", REPORTGEN_ANIMATION="apng")
    assert env.exit_code == 2 and "'gif', 'webp'" in env.output


def test_without_input_and_config_the_error_says_what_is_missing(tmp_path):
    result = run("build")
    assert result.exit_code == 2 and "no INPUT_DIR given" in result.stderr
    with pytest.raises(ConfigError, match="does not exist"):
        find_config(tmp_path / "absent.toml")


def test_enumerated_options_list_their_choices_from_flags_and_environment(tmp_path):
    write_inputs(tmp_path / "inputs")
    flag = run("build", "inputs", "--preset", "bogus")
    assert flag.exit_code == 2 and "'quick', 'standard', 'full'" in flag.output
    env = run("build", "inputs", REPORTGEN_PRESET="bogus")
    assert env.exit_code == 2 and "'quick', 'standard', 'full'" in env.output
    device = run("build", "inputs", "--device", "tpu")
    assert device.exit_code == 2 and "--device: unknown device 'tpu'; valid: auto, cpu, cuda, cuda:N, mps" in device.output
    env_device = run("build", "inputs", REPORTGEN_DEVICE="cuda:x")
    assert env_device.exit_code == 2 and "unknown device 'cuda:x'" in env_device.output


def test_the_repository_describes_its_showcase_and_baseline_in_config_files():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    showcase = build_config({}, load_config(root / "reportgen.toml"), registry())
    assert showcase.models == ("efficientnet_lite0", "efficientnet_lite2") and showcase.out == root / "site"
    baseline = build_config({}, load_config(root / "tests" / "baseline.toml"), registry())
    assert baseline.preset == "quick" and baseline.input_dir.resolve() == root / "inputs"
    assert baseline.overrides == {"saliency": {"methods": ("guided", "gradcam", "smoothgrad", "integrated_gradients",
                                                                "occlusion")},
                                  "class_ascent": {"robust_steps": 64, "robust_side": 128, "plateau_window": 0}}
    assert FileSettings().where("x") == "None: x"


def test_the_examples_folder_comes_from_the_flag_the_environment_or_the_file(tmp_path):
    (tmp_path / "conf" / "more").mkdir(parents=True)
    (tmp_path / "flag").mkdir()
    (tmp_path / "conf" / "gallery.toml").write_text(TINY.replace('device = "cpu"', 'device = "cpu"\nexamples = "more"'))
    file = load_config(tmp_path / "conf" / "gallery.toml")
    config = build_config({}, file, registry())
    assert config.overrides["layer_ascent"]["examples_dir"] == str(tmp_path / "conf" / "more")
    flagged = build_config({"examples": tmp_path / "flag"}, file, registry())
    assert flagged.overrides["layer_ascent"]["examples_dir"] == str(tmp_path / "flag")
    assert "layer_ascent" not in build_config({}, FileSettings(values={"input": "x"}), registry()).overrides
    with pytest.raises(ConfigError, match=r"^--examples: examples folder .*absent does not exist or is not a folder$"):
        build_config({"examples": tmp_path / "absent"}, file, registry())
    write_inputs(tmp_path / "conf" / "pictures")
    result = run("build", "--config", tmp_path / "conf" / "gallery.toml", "--techniques", "filters",
                 REPORTGEN_EXAMPLES=str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [
        f"error: --examples: examples folder {tmp_path / 'nowhere'} does not exist or is not a folder"]


def test_a_declared_model_name_in_pyproject_is_checked_naming_the_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.reportgen.model."x/../../y"]\nfactory = "net:build"\n'
                                             'classes = ["a", "b"]\n')
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "pyproject.toml")
    message = str(raised.value)
    assert "\n" not in message and "pyproject.toml: tool.reportgen.model.x/../../y: the model name" in message
    (tmp_path / "pyproject.toml").write_text('[tool.reportgen.model."resnet-like_v2.1"]\nfactory = "net:build"\n'
                                             'classes = ["a", "b"]\n')
    assert list(load_config(tmp_path / "pyproject.toml").declared) == ["resnet-like_v2.1"]
