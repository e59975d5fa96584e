import re
from pathlib import Path

from click.testing import CliRunner

from reportgen import __version__
from reportgen.interface.cli import main
from helpers import write_inputs


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def build_args(tmp_path, *extra):
    return ("build", tmp_path / "inputs", "--models", "tiny", "--techniques", "feature_maps,filters",
            "--preset", "quick", "--out", tmp_path / "site", "--cache-dir", tmp_path / "cache", "--device", "cpu", *extra)


def test_build_prints_the_summary_as_its_last_line(tmp_path):
    write_inputs(tmp_path / "inputs")
    first = run(*build_args(tmp_path))
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().splitlines()[-1] == "10 artifacts: 10 computed, 0 cached"
    second = run(*build_args(tmp_path))
    assert second.stdout.strip().splitlines()[-1] == "10 artifacts: 0 computed, 10 cached"
    assert (tmp_path / "site" / "index.html").exists()


def test_skipped_inputs_give_exit_code_3_and_strict_stops(tmp_path):
    write_inputs(tmp_path / "inputs")
    (tmp_path / "inputs" / "bad.jpg").write_bytes(b"\xff\xd8 nope")
    result = run(*build_args(tmp_path))
    assert result.exit_code == 3 and "skipped bad.jpg" in result.stderr
    strict = run(*build_args(tmp_path, "--strict"))
    assert strict.exit_code == 2 and "--strict" in strict.stderr


def test_errors_are_one_line_without_traceback(tmp_path):
    write_inputs(tmp_path / "inputs")
    for args, expected in [
        (("--models", "nosuchnet"), "unknown model 'nosuchnet'; `reportgen list models` lists all"),
            (("--models", "efficientnet_lite"), "did you mean efficientnet_lite2, efficientnet_lite0"),
        (("--set", "feature_maps.nope=1"), "valid: layers"),
        (("--set", "feature_maps.layers=zzz"), "no layer 'zzz'"),
        (("--preset", "huge"), "'huge' is not one of 'quick', 'standard', 'full'"),
        (("--weights", "magic"), "'magic' is not one of 'pretrained', 'random'"),
    ]:
        result = run(*build_args(tmp_path, *args))
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.stderr and "Traceback" not in result.output
    bad = run("build", tmp_path / "inputs", "--techniques", "astrology")
    assert bad.exit_code == 2 and "valid: feature_maps, filters" in bad.stderr


def test_a_failing_technique_prints_one_line_and_the_log_path(tmp_path, monkeypatch):
    from reportgen.techniques import filters

    def explode(*args, **kwargs):
        raise ValueError("weights went missing\nsecond line of detail")

    monkeypatch.setattr(filters.Filters, "compute", explode)
    write_inputs(tmp_path / "inputs")
    result = run(*build_args(tmp_path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if "failed" in line]
    assert lines and set(lines) == {lines[0]}  # the same line, live and in the closing summary
    assert lines[0].startswith("error: filters on tiny failed: ValueError: weights went missing (traceback in ")
    log = Path(lines[0].rsplit("traceback in ", 1)[1].rstrip(")"))
    assert log.is_file() and "second line of detail" in log.read_text() and "Traceback" in log.read_text()
    assert result.stdout.strip().splitlines()[-1].endswith("computed, 0 cached")


def test_quiet_and_verbose(tmp_path):
    write_inputs(tmp_path / "inputs")
    (tmp_path / "inputs" / "broken.png").write_bytes(b"not a picture")
    quiet = run(*build_args(tmp_path), "-q")
    assert quiet.exit_code == 3
    assert "feature_maps on tiny" not in quiet.stderr and quiet.stderr.count("broken.png") == 1
    verbose = run(*build_args(tmp_path), "-v")
    assert "artifacts planned: 10 in the cache, 0 to compute" in verbose.stderr
    assert verbose.stderr.count("broken.png") == 2  # as it is found, and in the closing summary


def test_list_and_version():
    techniques = run("list", "techniques")
    assert techniques.stdout.splitlines()[:2] == ["feature_maps", "filters"]
    assert "predictions" not in techniques.stdout
    models = run("list", "models").stdout.splitlines()
    assert models[0] == "efficientnet_lite0" and "vgg16" in models and "resnet50" in models
    version = run("--version")
    assert version.exit_code == 0 and re.search(re.escape(__version__), version.stdout)


def test_clean_removes_the_cache_a_build_made(tmp_path):
    write_inputs(tmp_path / "inputs")
    assert run(*build_args(tmp_path), "--techniques", "filters").exit_code == 0
    assert (tmp_path / "cache" / "objects").is_dir()
    result = run("clean", "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0 and "removed" in result.stdout
    assert not (tmp_path / "cache").exists()
    again = run("clean", "--cache-dir", tmp_path / "cache")
    assert again.exit_code == 0 and "nothing to remove" in again.stdout


def _notes(folder):
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "sub" / "a.txt").write_text("also mine")
    (folder / "objects").mkdir()  # even a name reportgen uses does not make it a cache
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_clean_refuses_a_folder_reportgen_did_not_create_and_deletes_nothing(tmp_path):
    folder = tmp_path / "mine"
    before = _notes(folder)
    result = run("clean", "--cache-dir", folder)
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "not a reportgen cache" in line and str(folder) in line
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == before


def test_a_build_refuses_a_cache_dir_holding_a_users_files(tmp_path):
    write_inputs(tmp_path / "inputs")
    folder = tmp_path / "mine"
    before = _notes(folder)
    result = run(*build_args(tmp_path), "--cache-dir", folder, "--techniques", "filters")
    assert result.exit_code == 2 and "not a reportgen cache" in result.stderr
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == before


def test_missing_weights_offline_stop_the_build_at_once_naming_the_file(tmp_path, monkeypatch, offline):
    write_inputs(tmp_path / "inputs")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    args = list(build_args(tmp_path))
    args[args.index("tiny")] = "alexnet"
    result = run(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: alexnet: pretrained weights are not available offline (")
    assert "Place alexnet-owt-7be5be79.pth in" in line and "reportgen weights fetch alexnet" in line
    assert not (tmp_path / "site").exists()


def test_every_command_reads_the_cache_and_out_folders_from_environment_and_config(tmp_path, monkeypatch):
    write_inputs(tmp_path / "inputs")
    assert run(*build_args(tmp_path), "--techniques", "filters").exit_code == 0
    monkeypatch.setenv("REPORTGEN_CACHE_DIR", str(tmp_path / "cache"))
    assert (tmp_path / "cache" / "objects").is_dir()
    result = run("clean")
    assert result.exit_code == 0 and f"removed {tmp_path / 'cache'}" in result.stdout
    assert not (tmp_path / "cache").exists()
    monkeypatch.delenv("REPORTGEN_CACHE_DIR")
    # A config file's folders, relative to the file, for clean and check alike; a flag wins over it.
    assert run(*build_args(tmp_path), "--techniques", "filters").exit_code == 0
    (tmp_path / "reportgen.toml").write_text('out = "site"\ncache_dir = "cache"\n')
    monkeypatch.chdir(tmp_path)
    assert run("check", tmp_path / "baseline", "--update").exit_code == 0
    checked = run("check", tmp_path / "baseline")
    assert checked.exit_code == 0 and checked.stdout.startswith("check passed"), checked.output
    elsewhere = run("clean", "--cache-dir", tmp_path / "absent")
    assert elsewhere.exit_code == 0 and "nothing to remove" in elsewhere.stdout and (tmp_path / "cache").exists()
    assert run("clean").exit_code == 0 and not (tmp_path / "cache").exists()


def test_help_says_how_every_command_reads_its_settings():
    text = " ".join(run("--help").stdout.split())
    assert "flags, then REPORTGEN_* environment variables" in text and "then the config file" in text
    for command in ("build", "check", "clean", "list"):
        assert "--config" in run(command, "--help").stdout


def test_list_layers_shows_shapes_layouts_and_default_picks(tmp_path):
    result = run("list", "layers", "tiny", "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    assert rows["features.0"][1:4] == ["Conv2d", "8x32x32", "nchw"]
    assert rows["features.2"][2] == "16x16x16"
    picked = {name: row[4:] for name, row in rows.items() if len(row) > 4}
    assert any("feature_maps" in " ".join(techniques) for techniques in picked.values())
    assert any("saliency" in " ".join(techniques) for techniques in picked.values())
    unknown = run("list", "layers", "tinny", "--cache-dir", tmp_path / "cache")
    assert unknown.exit_code == 2 and "did you mean tiny" in unknown.stderr and len(unknown.stderr.splitlines()) == 1


def test_list_params_gives_type_choices_presets_and_meaning():
    result = run("list", "params", "saliency")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "--set saliency.FIELD=VALUE" in text
    assert "ig_baseline (str) = black  one of: black, white, mean" in text
    assert "smoothgrad_samples (int) = quick 4, standard 8, full 50" in text
    assert "noise spread as a fraction of the input's value range" in text
    every = run("list", "params")
    assert all(f"# {name}:" in every.stdout for name in ("feature_maps", "deep_dream", "layer_ascent"))
    unknown = run("list", "params", "salency")
    assert unknown.exit_code == 2 and "unknown technique 'salency'" in unknown.stderr


def test_an_examples_folder_without_a_usable_image_stops_the_build_and_an_unreadable_file_is_skipped(tmp_path):
    write_inputs(tmp_path / "inputs")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "bad.jpg").write_bytes(b"\xff\xd8 nope")
    args = build_args(tmp_path, "--techniques", "layer_ascent", "--set", "layer_ascent.steps=2",
                      "--set", "layer_ascent.frames=2", "--set", "layer_ascent.styles=naive",
                      "--examples", tmp_path / "examples")
    refused = run(*args)
    assert refused.exit_code == 2 and refused.stderr.strip().splitlines() == [
        f"error: layer_ascent on tiny: examples folder {tmp_path / 'examples'} has no usable image"]
    assert not (tmp_path / "site").exists()
    write_inputs(tmp_path / "examples", names=("x.png", "y.png", "z.png"))
    built = run(*args)
    assert built.exit_code == 0, built.output
    assert built.stderr.count("examples folder: skipped bad.jpg: not an image reportgen reads") == 1
    page = (tmp_path / "site" / "layer_ascent.html").read_text()
    assert "Dataset examples" in page and "over 3 images of the examples folder" in page
