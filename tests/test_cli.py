import re

from click.testing import CliRunner

from reportgen import __version__
from reportgen.cli import main
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
        (("--models", "nosuchnet"), "unknown model 'nosuchnet'; valid: efficientnet_lite0"),
        (("--set", "feature_maps.nope=1"), "valid: layers"),
        (("--set", "feature_maps.layers=zzz"), "no layer 'zzz'"),
        (("--preset", "huge"), "valid: quick, standard, full"),
        (("--weights", "magic"), "valid: pretrained, random"),
    ]:
        result = run(*build_args(tmp_path, *args))
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.stderr and "Traceback" not in result.output
    bad = run("build", tmp_path / "inputs", "--techniques", "astrology")
    assert bad.exit_code == 2 and "valid: feature_maps, filters" in bad.stderr


def test_list_and_version():
    techniques = run("list", "techniques")
    assert techniques.stdout.splitlines()[:2] == ["feature_maps", "filters"]
    assert "predictions" not in techniques.stdout
    models = run("list", "models").stdout.splitlines()
    assert models[0] == "efficientnet_lite0" and "vgg16" in models and "resnet50" in models
    version = run("--version")
    assert version.exit_code == 0 and re.search(re.escape(__version__), version.stdout)


def test_clean_removes_the_cache(tmp_path):
    (tmp_path / "cache" / "objects").mkdir(parents=True)
    assert run("clean", "--cache-dir", tmp_path / "cache").exit_code == 0
    assert not (tmp_path / "cache").exists()


def test_missing_weights_offline_stop_the_build_at_once_naming_the_file(tmp_path, monkeypatch):
    from reportgen import models

    write_inputs(tmp_path / "inputs")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(models.catalogue, "_reachable", lambda url: False)
    args = list(build_args(tmp_path))
    args[args.index("tiny")] = "alexnet"
    result = run(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: alexnet: pretrained weights are not available offline. Place alexnet-owt-7be5be79.pth")
    assert not (tmp_path / "site").exists()
