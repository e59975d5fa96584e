"""``build --dry-run`` and ``--format json``, option errors before the input folder, -q / -v and
--help on every command."""
import json

import click
import pytest
from click.testing import CliRunner

from reportgen.interface.cli import main
from helpers import write_inputs


def run(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def build_args(tmp_path, *extra):
    return ("build", tmp_path / "inputs", "--models", "tiny", "--techniques", "feature_maps,filters,saliency",
            "--preset", "quick", "--out", tmp_path / "site", "--cache-dir", tmp_path / "cache", "--device", "cpu", *extra)


@pytest.fixture
def nothing_loads(monkeypatch):
    """Any weights, model loading or computing fails the test."""
    from reportgen.core import executors
    from reportgen.models import describe, weights

    def refuse(what):
        return lambda *args, **kwargs: pytest.fail(f"a dry run {what}")

    monkeypatch.setattr(weights, "fetch", refuse("fetched weights"))
    monkeypatch.setattr(describe, "fetch", refuse("fetched weights"))
    monkeypatch.setattr(executors, "run_job", refuse("computed"))
    monkeypatch.setattr(executors, "load", refuse("loaded a model"), raising=False)


def test_dry_run_prints_the_plan_and_computes_nothing(tmp_path, nothing_loads):
    write_inputs(tmp_path / "inputs")
    result = run(*build_args(tmp_path, "--dry-run"))
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["model", "technique", "jobs", "cached", "GFLOP", "time"]
    table = {tuple(row.split()[:2]): row.split()[2:] for row in rows[:-1]}
    assert table[("tiny", "feature_maps")][:2] == ["6", "0"] and table[("tiny", "filters")][:2] == ["2", "0"]
    assert float(table[("tiny", "filters")][2]) == 0 and float(table[("tiny", "saliency")][2]) > 0
    assert rows[-1].startswith(f"{sum(int(v[0]) for v in table.values())} artifacts: 0 cached")
    assert "no card in the cache" in result.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "site").exists()


def test_dry_run_counts_what_the_cache_holds(tmp_path):
    write_inputs(tmp_path / "inputs")
    assert run(*build_args(tmp_path, "--techniques", "feature_maps,filters")).exit_code == 0
    result = run(*build_args(tmp_path, "--dry-run", "--format", "json"))
    plan = json.loads(result.stdout)
    work = {item["technique"]: item for item in plan["work"]}
    assert work["feature_maps"]["cached"] == work["feature_maps"]["jobs"] == 6
    assert work["feature_maps"]["gflop"] == 0 and work["saliency"]["cached"] == 0 and work["saliency"]["gflop"] > 0
    assert plan["summary"]["to_compute"] == sum(item["to_compute"] for item in plan["work"])
    assert plan["summary"]["seconds"] == pytest.approx(sum(item["seconds"] for item in plan["work"]), abs=0.01)
    assert plan["dry_run"] is True and plan["notes"] == []


def test_dry_run_of_catalogue_models_without_weights(tmp_path, monkeypatch, offline, nothing_loads):
    write_inputs(tmp_path / "inputs")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    args = list(build_args(tmp_path, "--dry-run", "--format", "json"))
    args[args.index("tiny")] = "vgg16,resnet18"
    args[args.index("feature_maps,filters,saliency")] = "feature_maps,filters,saliency,faithfulness,class_ascent," \
                                                      "layer_ascent,deep_dream"
    args[args.index("quick")] = "standard"
    result = run(*args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert {item["model"] for item in plan["work"]} == {"vgg16", "resnet18"}
    gflop = {(item["model"], item["technique"]): item["gflop"] for item in plan["work"]}
    assert gflop[("vgg16", "feature_maps")] > gflop[("resnet18", "feature_maps")] > 0  # two inputs, one forward each
    assert any("vgg16-397923af.pth" in note for note in plan["notes"])  # the download a build would need
    assert not (tmp_path / "torch").exists() and not (tmp_path / "cache").exists()


def test_build_format_json_is_one_document_on_stdout(tmp_path):
    write_inputs(tmp_path / "inputs")
    (tmp_path / "inputs" / "broken.png").write_bytes(b"not a picture")
    result = run(*build_args(tmp_path, "--format", "json"))
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert document["summary"]["computed"] == document["summary"]["artifacts"] > 0
    assert document["summary"]["failed"] == 0 and document["failures"] == []
    assert document["skipped_inputs"] == [{"name": "broken.png", "reason": document["skipped_inputs"][0]["reason"]}]
    assert document["site"] == str(tmp_path / "site")
    assert json.loads((tmp_path / "site" / "manifest.json").read_text()) and \
        document["manifest"] == str(tmp_path / "site" / "manifest.json")
    assert "broken.png" in result.stderr


@pytest.mark.parametrize("args, expected", [
    (("--models", "vgg17"), "unknown model 'vgg17'"),
    (("--techniques", "astrology"), "unknown technique"),
    (("--set", "saliency.nope=1"), "unknown parameter 'nope'"),
    (("--set", "saliency"), "expected TECHNIQUE.PARAM=VALUE"),
])
def test_option_errors_come_before_the_input_folder_is_read(tmp_path, args, expected):
    (tmp_path / "empty").mkdir()
    for folder in ("empty", "missing"):
        result = run("build", tmp_path / folder, "--cache-dir", tmp_path / "cache", "--out", tmp_path / "site", *args)
        assert result.exit_code == 2 and expected in result.stderr, result.output
        assert "no usable images" not in result.stderr and "does not exist" not in result.stderr
    assert not (tmp_path / "cache").exists()


def test_a_refused_build_creates_no_cache_folder(tmp_path, monkeypatch, offline):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    assert run("build", "empty", "--models", "tiny").exit_code == 2
    write_inputs(tmp_path / "inputs")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    missing_weights = run("build", "inputs", "--models", "alexnet", "--techniques", "filters")
    assert missing_weights.exit_code == 2 and "alexnet" in missing_weights.stderr
    assert not (tmp_path / ".reportgen-cache").exists()


def _commands(group=main, path=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


@pytest.mark.parametrize("path", [path for path, _ in _commands()], ids=" ".join)
def test_every_command_takes_quiet_and_verbose(path):
    command = dict(_commands())[path]
    flags = {opt for param in command.params for opt in param.opts}
    assert {"-q", "--quiet", "-v", "--verbose"} <= flags
    both = run(*path, "-q", "-v")
    assert both.exit_code == 2 and "exclude each other" in both.output


def test_quiet_drops_notes_and_verbose_shows_the_log(tmp_path):
    listed = run("weights", "list", "vgg16")
    assert listed.exit_code == 0 and "# " in listed.stderr
    quiet = run("weights", "list", "vgg16", "-q")
    assert quiet.stdout == listed.stdout and quiet.stderr == ""


def test_help_shows_whole_summaries_and_environment_variables():
    top = run("--help").stdout
    for path, command in _commands():
        if len(path) == 1:
            assert command.short_help and command.short_help in " ".join(top.split()), path
            assert not command.short_help.endswith("...")
    for path, command in _commands():
        shown = " ".join(run(*path, "--help").stdout.split())
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                assert f"env var: {param.envvar}" in shown, (path, param.name)
