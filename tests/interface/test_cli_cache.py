"""``reportgen cache info`` and ``reportgen clean --older-than / --max-size / --unused-by``."""
import json
import os

from click.testing import CliRunner

from reportgen.core.cache import Cache
from reportgen.interface.cli import main
from helpers import write_inputs


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def build(tmp_path, techniques, out="site"):
    result = run("build", tmp_path / "inputs", "--models", "tiny", "--techniques", techniques, "--preset", "quick",
                 "--out", tmp_path / out, "--cache-dir", tmp_path / "cache", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    return Cache(tmp_path / "cache")


def age_everything(cache, seconds_ago):
    """Every entry and card last used ``seconds_ago``."""
    import time

    then = time.time() - seconds_ago
    for path in [*(s.folder / "entry.json" for s in cache.stored()), *cache.cards()]:
        os.utime(path, (then, then))


def test_cache_info_counts_entries_size_models_and_uses(tmp_path):
    write_inputs(tmp_path / "inputs")
    assert "no reportgen cache at" in run("cache", "info", "--cache-dir", tmp_path / "cache").stdout
    cache = build(tmp_path, "feature_maps,filters")
    stored = cache.stored()
    info = json.loads(run("cache", "info", "--cache-dir", tmp_path / "cache", "--format", "json").stdout)
    assert info["entries"] == len(stored) == 10 and info["models"] == {"tiny": 10} and info["cards"] == 1
    assert info["bytes"] == sum(s.size for s in stored) > 0
    assert info["oldest_use"] is not None and info["newest_use"] >= info["oldest_use"]
    text = run("cache", "info", "--cache-dir", tmp_path / "cache").stdout
    assert "10 entries" in text and "tiny (10)" in text and "last used: oldest" in text


def test_clean_older_than_keeps_what_the_last_build_used(tmp_path):
    write_inputs(tmp_path / "inputs")
    cache = build(tmp_path, "feature_maps,filters")
    age_everything(cache, 40 * 86400)
    build(tmp_path, "filters")  # uses the card, the predictions' and the filters' entries again
    result = run("clean", "--cache-dir", tmp_path / "cache", "--older-than", "30d")
    assert result.exit_code == 0 and result.stdout.startswith("removed 6 entries")  # the feature maps'
    assert {s.technique for s in cache.stored()} == {"filters", "predictions"} and len(cache.cards()) == 1
    assert run("clean", "--cache-dir", tmp_path / "cache", "--older-than", "soon").exit_code == 2


def test_clean_max_size_removes_the_least_recently_used(tmp_path):
    write_inputs(tmp_path / "inputs")
    cache = build(tmp_path, "feature_maps,filters")
    age_everything(cache, 3600)
    build(tmp_path, "filters")
    used = sum(s.size for s in cache.stored() if s.technique in ("filters", "predictions"))
    result = run("clean", "--cache-dir", tmp_path / "cache", "--max-size", str(used))
    assert result.exit_code == 0
    assert {s.technique for s in cache.stored()} == {"filters", "predictions"}
    assert run("clean", "--cache-dir", tmp_path / "cache", "--max-size", "lots").exit_code == 2


def test_clean_unused_by_keeps_exactly_what_a_site_names(tmp_path):
    write_inputs(tmp_path / "inputs")
    build(tmp_path, "feature_maps,filters", out="everything")
    cache = build(tmp_path, "filters", out="site")
    named = {a["key"] for a in json.loads((tmp_path / "site" / "manifest.json").read_text())["artifacts"]}
    (tmp_path / "cache" / "my notes.txt").write_text("mine")
    result = run("clean", "--cache-dir", tmp_path / "cache", "--unused-by", tmp_path / "site")
    assert result.exit_code == 0
    assert {s.key for s in cache.stored()} == named
    assert (tmp_path / "cache" / "my notes.txt").read_text() == "mine"
    again = run("build", tmp_path / "inputs", "--models", "tiny", "--techniques", "filters", "--preset", "quick",
                "--out", tmp_path / "site", "--cache-dir", tmp_path / "cache", "--device", "cpu")
    assert again.stdout.strip().endswith("0 computed, 4 cached")
    missing = run("clean", "--cache-dir", tmp_path / "cache", "--unused-by", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "manifest.json" in missing.stderr


def test_clean_options_refuse_a_folder_reportgen_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.bin").write_text("x")
    result = run("clean", "--cache-dir", tmp_path / "mine", "--max-size", "0")
    assert result.exit_code == 2 and "not a reportgen cache" in result.stderr
    assert (tmp_path / "mine" / "data.bin").exists()
