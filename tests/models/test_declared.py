"""A user's model declared in the config file ([model.NAME]): used by name, known by its content,
and every bad declaration refused in one line naming the file and the key."""
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reportgen.interface.cli import main
from helpers import write_inputs

FACTORY = '''
from torch import nn


def build(classes=3):
    return nn.Sequential(nn.Conv2d({channels}, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))


def five():
    return build(5)


def broken():
    raise ValueError("the layer sizes do not add up")
'''
CLASSES = ("square", "circle", "triangle")


def declare(folder: Path, channels: int = 3, weights: str | None = "net.pth", **table) -> Path:
    """A folder with inputs, a factory module, its weights and classes, and a reportgen.toml
    declaring them as model "mine"; ``table`` changes the declaration's keys."""
    write_inputs(folder / "inputs", size=(40, 32))
    (folder / "mine_net.py").write_text(FACTORY.format(channels=channels))
    torch.manual_seed(1)
    namespace: dict = {}
    exec(FACTORY.format(channels=channels), namespace)
    torch.save(namespace["build"]().state_dict(), folder / "net.pth")
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    values = {"factory": "mine_net:build", "weights": weights, "classes": "classes.txt", "input_size": 32,
              "channels": channels, "mean": [0.5] * channels, "std": [0.25] * channels, **table}
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
    (folder / "reportgen.toml").write_text(
        'input = "inputs"\nmodels = ["mine"]\npreset = "quick"\ndevice = "cpu"\n'
        'techniques = ["feature_maps", "filters"]\n[model.mine]\n' + "\n".join(lines) + "\n")
    return folder / "reportgen.toml"


def build(folder: Path, *extra: str):
    return CliRunner().invoke(main, ["build", "--config", str(folder / "reportgen.toml"), "-q", *extra])


def manifest(folder: Path) -> dict:
    return json.loads((folder / "site" / "manifest.json").read_text())


def test_a_declared_model_builds_by_name_with_its_class_names_and_is_listed(tmp_path):
    declare(tmp_path)
    result = build(tmp_path)
    assert result.exit_code == 0, result.output
    model = manifest(tmp_path)["models"][0]
    assert model["name"] == "mine" and not model.get("untrained")
    assert (tmp_path / "site" / "index.html").is_file()
    text = (tmp_path / "site" / "manifest.json").read_text()
    assert any(name in text for name in CLASSES)
    listed = CliRunner().invoke(main, ["list", "models", "--config", str(tmp_path / "reportgen.toml")])
    assert "mine" in listed.stdout.splitlines()


def test_without_weights_it_is_seeded_random_and_said_untrained(tmp_path):
    declare(tmp_path, weights=None)
    result = build(tmp_path)
    assert result.exit_code == 0, result.output
    assert "random" in json.dumps(manifest(tmp_path)["models"][0])


def test_retrained_weights_at_the_same_path_recompute(tmp_path):
    declare(tmp_path)
    assert build(tmp_path).exit_code == 0
    again = build(tmp_path)
    assert again.stdout.strip().endswith("8 artifacts: 0 computed, 8 cached"), again.output
    state = torch.load(tmp_path / "net.pth", weights_only=True)
    torch.save({name: tensor + 0.01 for name, tensor in state.items()}, tmp_path / "net.pth")
    retrained = build(tmp_path)
    assert retrained.exit_code == 0, retrained.output
    assert retrained.stdout.strip().endswith("8 artifacts: 8 computed, 0 cached"), retrained.output


def test_a_changed_factory_source_recomputes(tmp_path):
    declare(tmp_path)
    assert build(tmp_path).exit_code == 0
    source = tmp_path / "mine_net.py"
    source.write_text(source.read_text() + "\n# retouched\n")
    again = build(tmp_path)
    assert again.stdout.strip().endswith("8 artifacts: 8 computed, 0 cached"), again.output


def _pickled_whole_model(folder: Path) -> str:
    namespace: dict = {}
    exec(FACTORY.format(channels=3), namespace)
    torch.save(namespace["build"](), folder / "whole.pth")
    return "whole.pth"


def _mismatched_weights(folder: Path) -> str:
    torch.save({"0.weight": torch.zeros(4, 3, 3, 3)}, folder / "small.pth")
    return "small.pth"


@pytest.mark.parametrize("change, words", [
    (lambda f: {"factory": "mine_net:nothing"}, ["model.mine.factory", "no function 'nothing'"]),
    (lambda f: {"factory": "no_such_module:build"}, ["model.mine.factory", "no_such_module"]),
    (lambda f: {"factory": "mine_net:broken"}, ["model.mine.factory", "ValueError", "do not add up"]),
    (lambda f: {"factory": "mine_net:five"}, ["model.mine.classes", "3 names for a head of 5 outputs"]),
    (lambda f: {"weights": _mismatched_weights(f)}, ["model.mine.weights", "0.weight", "(4, 3, 3, 3)", "(8, 3, 3, 3)"]),
    (lambda f: {"weights": _pickled_whole_model(f)}, ["model.mine.weights", "pickled", "state_dict()"]),
    (lambda f: {"mean": [0.5]}, ["model.mine.mean", "1 values for a 3-channel model"]),
    (lambda f: {"std": [0.2, 0.2]}, ["model.mine.std", "2 values"]),
    (lambda f: {"classes": ["a", "b"]}, ["model.mine.classes", "2 names for a head of 3 outputs"]),
    (lambda f: {"weights": "absent.pth"}, ["model.mine.weights", "absent.pth does not exist"]),
    (lambda f: {"colour": 3}, ["model.mine", "unknown key 'colour'"]),
])
def test_a_bad_declaration_is_one_line_naming_file_and_key_and_writes_nothing(tmp_path, change, words):
    declare(tmp_path, **change(tmp_path))
    result = build(tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "reportgen.toml" in lines[0] and all(word in lines[0] for word in words), lines[0]
    assert not (tmp_path / "site").exists()


def test_a_one_channel_model_sees_the_luma_of_its_colour_input(tmp_path):
    from reportgen import models
    from reportgen.core.cache import Cache
    from reportgen.interface.config import load_config
    from reportgen.models.declared import GRAY, declare as register

    declare(tmp_path, channels=1)
    register("mine", load_config(tmp_path / "reportgen.toml").declared["mine"])
    loaded = models.load(models.card_for("mine", "pretrained", Cache(tmp_path / "cache")), "cpu")
    namespace: dict = {}
    exec(FACTORY.format(channels=1), namespace)
    gray_net = namespace["build"]()
    gray_net.load_state_dict(torch.load(tmp_path / "net.pth", weights_only=True))
    colour = torch.rand(2, 3, 32, 32)
    luma = sum(colour[:, i:i + 1] * share for i, share in enumerate(GRAY))
    assert torch.allclose(loaded.module(loaded.normalise(colour)), gray_net.eval()((luma - 0.5) / 0.25), atol=1e-5)
    result = build(tmp_path)
    assert result.exit_code == 0, result.output


def _counts(result) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("change", [
    {"mean": [0.4, 0.5, 0.5]}, {"std": [0.25, 0.25, 0.3]}, {"input_size": 40},
    {"classes": ["square", "circle", "star"]}, {"channels": 1, "mean": [0.5], "std": [0.25]},
])
def test_every_field_of_a_declaration_recomputes_its_model_and_nothing_else(tmp_path, change):
    """The card and every artifact of the edited model are made again; the other model's are reused."""
    config = declare(tmp_path)
    config.write_text(config.read_text().replace('models = ["mine"]', 'models = ["mine", "tiny"]'))
    assert build(tmp_path).exit_code == 0
    if "channels" in change:  # a 1-channel factory and weights for it, then the declaration
        declare(tmp_path, channels=1)
        config.write_text(config.read_text().replace('models = ["mine"]', 'models = ["mine", "tiny"]'))
    else:
        text = config.read_text()
        for key, value in change.items():
            text = "\n".join(f"{key} = {json.dumps(value)}" if line.startswith(f"{key} = ") else line
                             for line in text.splitlines()) + "\n"
        config.write_text(text)
    again = build(tmp_path)
    assert again.exit_code == 0, again.output
    cached = [a for a in manifest(tmp_path)["artifacts"]]
    assert _counts(again) == f"{len(cached)} artifacts: 8 computed, {len(cached) - 8} cached", again.output
    card = next(m for m in manifest(tmp_path)["models"] if m["name"] == "mine")
    assert card["input_size"] == change.get("input_size", 32)


HELPER = "WIDTH = {width}\n"
FACTORY_WITH_HELPER = '''
from torch import nn

from mine_layers import WIDTH


def build():
    return nn.Sequential(nn.Conv2d(3, WIDTH, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(WIDTH, 3))
'''


def test_a_helper_module_the_factory_imports_is_part_of_its_identity(tmp_path):
    declare(tmp_path, weights=None)
    (tmp_path / "mine_net.py").write_text(FACTORY_WITH_HELPER)
    (tmp_path / "mine_layers.py").write_text(HELPER.format(width=8))
    first = build(tmp_path)
    assert first.exit_code == 0, first.output
    count = len(manifest(tmp_path)["artifacts"])
    assert _counts(build(tmp_path)) == f"{count} artifacts: 0 computed, {count} cached"
    (tmp_path / "mine_layers.py").write_text(HELPER.format(width=8) + "# the same layers, another file\n")
    again = build(tmp_path)
    assert again.exit_code == 0, again.output
    assert _counts(again) == f"{count} artifacts: {count} computed, 0 cached", again.output


def test_a_helper_module_edited_between_builds_in_one_process_is_imported_afresh(tmp_path):
    from reportgen.interface.config import load_config

    declare(tmp_path, weights=None)
    (tmp_path / "mine_net.py").write_text(FACTORY_WITH_HELPER)
    (tmp_path / "mine_layers.py").write_text(HELPER.format(width=8))
    first = load_config(tmp_path / "reportgen.toml").declared["mine"].local_model().build()
    (tmp_path / "mine_layers.py").write_text(HELPER.format(width=4))
    second = load_config(tmp_path / "reportgen.toml").declared["mine"].local_model().build()
    assert first[0].out_channels == 8 and second[0].out_channels == 4


@pytest.mark.parametrize("name", ["a/../../x", "..", "a..b", "-x", "na me", "é", "x" * 65, "a\\b", ""])
def test_a_declared_name_that_is_not_a_plain_word_is_one_line_naming_the_key_and_writes_nothing(tmp_path, name):
    config = declare(tmp_path)
    text = config.read_text().replace('models = ["mine"]', f"models = [{json.dumps(name)}]")
    config.write_text(text.replace("[model.mine]", f"[model.{json.dumps(name)}]"))
    result = build(tmp_path)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "reportgen.toml" in line and f"model.{name}: the model name" in line and "Traceback" not in result.output
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert written == sorted(["classes.txt", "inputs", "inputs/a.png", "inputs/b.png", "mine_net.py", "net.pth",
                              "reportgen.toml"])


def test_a_model_passed_from_python_under_a_path_like_name_is_refused_before_anything_is_written(tmp_path):
    import reportgen
    from reportgen.models.card import ModelError
    from reportgen.models.declared import declare as register

    write_inputs(tmp_path / "inputs")
    namespace: dict = {}
    exec(FACTORY.format(channels=3), namespace)
    spec = reportgen.ModelSpec(module=namespace["build"](), classes=CLASSES, input_size=32)
    with pytest.raises(reportgen.ParamError, match=r"models\['a/\.\./\.\./x'\]: the model name"):
        reportgen.build(tmp_path / "inputs", models={"a/../../x": spec}, techniques="filters",
                        out=tmp_path / "site", cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]
    with pytest.raises(ModelError, match="the model name"):  # every way in to the registry checks it
        register("../x", spec)
