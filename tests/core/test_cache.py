import json
import threading
from pathlib import Path

import numpy as np
import pytest

from reportgen.core.cache import Cache, cache_key
from reportgen.core.meta import FiltersMeta
from reportgen.core.staging import atomic_write_bytes
from reportgen.techniques.base import Result

MODEL = {"name": "tiny", "weights": "w1", "card": 1}


def result(value: float = 1.0) -> Result:
    return Result(arrays={"raw": np.full((2, 3), value, np.float32)},
                  images={"picture": np.full((4, 5, 3), 7, np.uint8)},
                  animations={"gif": [np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)]},
                  meta=FiltersMeta((int(value), 3)))


def test_key_is_stable_and_order_independent():
    a = cache_key("t", 1, {"x": 1, "y": [1, 2]}, MODEL, "abc")
    b = cache_key("t", 1, {"y": [1, 2], "x": 1}, dict(reversed(list(MODEL.items()))), "abc")
    assert a == b and len(a) == 64


@pytest.mark.parametrize("change", [
    dict(technique="u"), dict(version=2), dict(spec={"x": 2, "y": [1, 2]}),
    dict(model={**MODEL, "weights": "w2"}), dict(image="abd"), dict(image=None),
])
def test_key_changes_with_everything_it_depends_on(change):
    base = dict(technique="t", version=1, spec={"x": 1, "y": [1, 2]}, model=MODEL, image="abc")
    key = lambda d: cache_key(d["technique"], d["version"], d["spec"], d["model"], d["image"])
    assert key(base) != key({**base, **change})


def test_put_then_get_round_trips(cache):
    key = cache_key("t", 1, {}, MODEL, None)
    assert cache.get(key) is None
    stored = cache.put(key, result(3.0))
    loaded = cache.get(key)
    assert loaded.files == stored.files and loaded.meta == {"shape": [3, 3]}
    np.testing.assert_array_equal(loaded.array("raw"), np.full((2, 3), 3.0, np.float32))
    assert loaded.path("picture").read_bytes().startswith(b"\x89PNG")
    assert loaded.path("gif").read_bytes().startswith(b"GIF8")


def test_animations_are_written_in_the_caches_format(tmp_path):
    webp = Cache(tmp_path / "webp", animation="webp").put(cache_key("t", 1, {}, MODEL, None, animation="webp"), result())
    assert webp.files["gif"] == "gif.webp" and webp.path("gif").read_bytes()[8:12] == b"WEBP"
    assert webp.path("picture").suffix == ".png"  # pictures stay PNG


def test_failed_write_leaves_no_entry_and_no_temporary(cache, monkeypatch):
    from reportgen.pictures import render

    key = cache_key("t", 1, {}, MODEL, None)
    monkeypatch.setattr(render, "animation_bytes", lambda *args: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        cache.put(key, result())
    assert cache.get(key) is None
    assert not [p for p in (cache.root / "objects").rglob("*") if p.is_file()]


def test_broken_leftover_entry_is_replaced(cache):
    key = cache_key("t", 1, {}, MODEL, None)
    folder = cache.root / "objects" / key[:2] / key
    folder.mkdir(parents=True)
    (folder / "entry.json").write_text(json.dumps({"files": {"x": "missing.png"}, "meta": {}}))
    assert cache.get(key) is None
    assert cache.put(key, result()).meta == {"shape": [1, 3]}


def test_racing_writers_end_with_one_whole_entry(cache):
    key = cache_key("t", 1, {}, MODEL, None)
    errors = []

    def write():
        try:
            cache.put(key, result())
        except Exception as error:  # pragma: no cover - the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert cache.get(key) is not None
    assert [p.name for p in (cache.root / "objects" / key[:2]).iterdir()] == [key]


def test_claim_marks_a_missing_or_empty_folder_and_refuses_any_other(tmp_path):
    from reportgen.core.cache import MARKER, CacheError

    Cache(tmp_path / "new").claim()
    (tmp_path / "empty").mkdir()
    Cache(tmp_path / "empty").claim()
    assert (tmp_path / "new" / MARKER).is_file() and (tmp_path / "empty" / MARKER).is_file()
    Cache(tmp_path / "new").claim()  # marked: adopted as it is
    for own_name in ("json", "logs", "objects"):  # reportgen's sub-folder names do not make a folder its cache
        folder = tmp_path / f"has-{own_name}"
        (folder / own_name).mkdir(parents=True)
        (folder / own_name / "mine.txt").write_text("a user's file")
        with pytest.raises(CacheError, match=f"no {MARKER} inside, and it holds {own_name}"):
            Cache(folder).claim()
        assert [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))] == [own_name, f"{own_name}/mine.txt"]
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CacheError, match="is a file"):
        Cache(tmp_path / "file").claim()


def test_clear_removes_only_what_reportgen_wrote(tmp_path):
    root = tmp_path / "cache"
    cache = Cache(root)
    cache.claim()
    entry = cache.put(cache_key("t", 1, {}, MODEL, None), result())
    atomic_write_bytes(cache.card_file("card-tiny-random-0123456789abcdef"), b"{}")
    log = cache.new_log()
    log.write_text("a traceback")
    staging = entry.folder.parent / ".tmp-0123456789ab-42-abc_123"  # a killed writer's staging folder
    staging.mkdir()
    mine = {"notes.txt": "put here by hand later", "json/settings.json": "{}", "json/card-notes.txt": "mine",
            "logs/diary.log": "mine", "logs/build-notes.log": "mine", "objects/README": "mine",
            f"objects/{entry.key[:2]}/{'f' * 64}/kept.txt": "a key in the wrong shard is not an entry",
            "objects/zz/kept.txt": "not a shard"}
    for name, text in mine.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert cache.clear()
    assert not entry.folder.exists() and not staging.exists() and not log.exists()
    left = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}
    assert left == mine  # the marker and every card went too
    assert not Cache(tmp_path / "absent").clear()


def test_clear_does_not_follow_links(tmp_path):
    outside = tmp_path / "outside"
    (outside / "ab" / ("ab" * 32)).mkdir(parents=True)
    (outside / "card-x-random-0123456789abcdef.json").write_text("mine")
    cache = Cache(tmp_path / "cache")
    cache.claim()
    (tmp_path / "cache" / "objects").symlink_to(outside)
    (tmp_path / "cache" / "json").symlink_to(outside)
    assert cache.clear()
    assert (outside / "ab" / ("ab" * 32)).is_dir() and (outside / "card-x-random-0123456789abcdef.json").is_file()


def test_clean_after_a_build_keeps_a_users_files_in_json_and_logs(tmp_path):
    from click.testing import CliRunner

    from helpers import write_inputs
    from reportgen.interface.cli import main

    write_inputs(tmp_path / "inputs")
    cache_dir = tmp_path / "cache"
    built = CliRunner().invoke(main, ["build", str(tmp_path / "inputs"), "--models", "tiny", "--techniques", "filters",
                                      "--preset", "quick", "--device", "cpu", "--out", str(tmp_path / "site"),
                                      "--cache-dir", str(cache_dir)])
    assert built.exit_code == 0, built.output
    assert list((cache_dir / "json").glob("card-*.json"))
    (cache_dir / "json" / "mine.json").write_text("{}")
    (cache_dir / "logs").mkdir(exist_ok=True)
    (cache_dir / "logs" / "mine.log").write_text("mine")
    cleaned = CliRunner().invoke(main, ["clean", "--cache-dir", str(cache_dir)])
    assert cleaned.exit_code == 0 and "kept the files it did not write" in cleaned.stdout
    assert sorted(p.relative_to(cache_dir).as_posix() for p in cache_dir.rglob("*")) == [
        "json", "json/mine.json", "logs", "logs/mine.log"]
    refused = CliRunner().invoke(main, ["clean", "--cache-dir", str(cache_dir)])  # no marker now: not a cache
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert (cache_dir / "json" / "mine.json").is_file()


def test_clear_and_claim_refuse_a_foreign_folder(tmp_path):
    from reportgen.core.cache import CacheError

    (tmp_path / "mine" / "objects").mkdir(parents=True)
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(CacheError, match="not a reportgen cache"):
        Cache(tmp_path / "mine").clear()
    with pytest.raises(CacheError, match="notes.txt"):
        Cache(tmp_path / "mine").claim()
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt", "objects"]


def test_a_killed_ray_builds_probe_is_swept_and_cleared(tmp_path):
    import os

    from reportgen.core.cache import SHARED_CHECK
    from reportgen.core.staging import temporary_prefix

    cache = Cache(tmp_path / "cache")
    cache.claim()
    live = tmp_path / "cache" / (temporary_prefix(SHARED_CHECK) + "a")  # this process: alive, kept
    dead = tmp_path / "cache" / (temporary_prefix(SHARED_CHECK).replace(f"-{os.getpid()}-", "-999999999-") + "b")
    for probe in (live, dead):
        probe.write_text("token")
    assert cache.sweep() == 1 and live.exists() and not dead.exists()
    assert cache.clear() and not (tmp_path / "cache").exists()  # the folder goes with the probe


def test_the_cache_names_every_file_it_keeps_inside_its_folder(cache):
    entry = cache.put("ab" * 32, result())
    relative = cache.relative_files(entry)
    assert set(relative) == {"raw", "picture", "gif"}
    assert all((cache.root / path).is_file() and not Path(path).is_absolute() for path in relative.values())
    log = cache.new_log()
    assert log.name.startswith("build-") and cache.new_log("ray").name.startswith("ray-")
    assert log.parent.is_dir() and not log.exists() and log.is_relative_to(cache.root)
    for name in ("card-tiny", "card-timm:org/net-random-0123", "card-a/../../x", "..", "a\\..\\b", "card-\u00e9\x00"):
        card = cache.card_file(name)
        assert card.parent == cache.root / "json" and card.name not in (".", "..") and "/" not in card.name
        assert "\\" not in card.name and card.name.isascii() and "\x00" not in card.name


def test_a_shared_check_is_seen_with_its_token_only_until_removed(tmp_path):
    cache = Cache(tmp_path / "cache")
    name, token = cache.leave_shared_check()
    assert cache.sees_shared_check(name, token) and not cache.sees_shared_check(name, token + "x")
    cache.remove_shared_check(name)
    assert not cache.sees_shared_check(name, token) and not list((tmp_path / "cache").iterdir())


# --- last use and pruning ------------------------------------------------------------------------

def _stored_at(cache, value: float, last_use: float, model: str = "tiny") -> str:
    """An entry whose last use is ``last_use`` (epoch seconds)."""
    import os

    key = cache_key("t", 1, {"value": value}, MODEL, None)
    entry = cache.put(key, result(value), {"model": model, "technique": "t"})
    os.utime(entry.folder / "entry.json", (last_use, last_use))
    return key


def test_a_hit_records_its_use_and_a_look_does_not(cache):
    key = _stored_at(cache, 1.0, last_use=1000.0)
    assert cache.get(key, use=False) is not None
    assert [s.last_use for s in cache.stored()] == [1000.0]
    cache.get(key)
    assert cache.stored()[0].last_use > 1000.0


def test_stored_entries_know_their_size_model_and_technique(cache):
    _stored_at(cache, 1.0, 1000.0, model="alpha")
    _stored_at(cache, 2.0, 2000.0, model="beta")
    stored = cache.stored()
    assert [s.model for s in stored] == ["alpha", "beta"] and {s.technique for s in stored} == {"t"}
    for item in stored:
        assert item.size == sum(p.stat().st_size for p in item.folder.iterdir())


def test_prune_older_than_removes_only_the_unused_ones(cache):
    old = _stored_at(cache, 1.0, last_use=1000.0)
    recent = _stored_at(cache, 2.0, last_use=9000.0)
    pruned = cache.prune(older_than_s=5000, now=10000.0)
    assert pruned.entries == 1 and pruned.bytes > 0
    assert cache.get(old) is None and cache.get(recent) is not None


def test_prune_max_size_removes_the_least_recently_used_first(cache):
    keys = [_stored_at(cache, float(i), last_use=1000.0 * (i + 1)) for i in range(4)]  # keys[0] least recent
    sizes = {s.key: s.size for s in cache.stored()}
    cache.get(keys[0])  # used now: the most recent
    budget = sizes[keys[0]] + sizes[keys[3]]
    cache.prune(max_bytes=budget)
    assert [k for k in keys if cache.get(k, use=False)] == [keys[0], keys[3]]
    assert sum(s.size for s in cache.stored()) <= budget


def test_prune_keeps_only_what_a_site_names(cache):
    kept = _stored_at(cache, 1.0, 1000.0)
    dropped = _stored_at(cache, 2.0, 1000.0)
    cache.prune(keep={kept})
    assert cache.get(kept) is not None and cache.get(dropped) is None


def test_prune_never_removes_what_reportgen_did_not_write(cache):
    key = _stored_at(cache, 1.0, last_use=1000.0)
    folder = cache.get(key).folder
    other_shard = "00" if not key.startswith("00") else "11"
    theirs = [cache.root / "notes.txt", cache.root / "objects" / "mine.bin", folder.parent / "mine.bin",
              cache.root / "json" / "their.json",
              cache.root / "objects" / "zz" / ("f" * 64) / "entry.json",  # not a shard reportgen names
              folder.parent / (other_shard + "0" * 62) / "entry.json"]  # a key outside its shard
    for path in theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("keep")
    cache.prune(older_than_s=0, max_bytes=0, keep=set())
    assert cache.get(key) is None
    assert all(path.read_text() == "keep" for path in theirs)


def test_prune_refuses_a_folder_reportgen_did_not_make(tmp_path):
    from reportgen.core.cache import CacheError

    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "data.npy").write_text("x")
    with pytest.raises(CacheError, match="not a reportgen cache"):
        Cache(folder).prune(max_bytes=0)
    assert (folder / "data.npy").exists()


def test_prune_older_than_removes_old_cards_too(cache):
    import os

    card = cache.card_file("card-tiny-random-0123456789abcdef")
    card.parent.mkdir(parents=True, exist_ok=True)
    card.write_text("{}")
    os.utime(card, (1000.0, 1000.0))
    assert cache.read_card(card.stem) == {}  # read: used now
    cache.prune(older_than_s=5000)
    assert card.exists()
    os.utime(card, (1000.0, 1000.0))
    cache.prune(older_than_s=5000)
    assert not card.exists()


def test_a_build_reading_while_another_prunes_sees_whole_entries_or_none(cache):
    keys = [_stored_at(cache, float(i), last_use=1000.0) for i in range(20)]
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            for key in keys:
                entry = cache.get(key)
                if entry is not None:
                    try:
                        seen.append(entry.array("raw").shape)
                    except OSError:  # removed after the get: the build's copy fails, never a half entry
                        pass

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        cache.prune(max_bytes=0)
    finally:
        stop.set()
        thread.join()
    assert set(seen) <= {(2, 3)} and not cache.stored()
    assert not [p for p in (cache.root / "objects").rglob(".tmp-*")]


def test_check_usable_makes_nothing_and_refuses_a_foreign_folder(tmp_path):
    from reportgen.core.cache import CacheError

    Cache(tmp_path / "missing").check_usable()
    assert not (tmp_path / "missing").exists()
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "x").write_text("x")
    with pytest.raises(CacheError, match="not a reportgen cache"):
        Cache(tmp_path / "theirs").check_usable()
