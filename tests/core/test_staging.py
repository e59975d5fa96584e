import os
import subprocess
import sys
import time

import pytest

from reportgen.core.staging import ABANDONED_AFTER_S, owner, replace_folder, sweep_abandoned, temporary_prefix


def dead_pid() -> int:
    """The id of a process that has finished."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def leftover(folder, name, age_s=0.0):
    path = folder / name
    path.mkdir()
    (path / "part").write_bytes(b"half")
    then = time.time() - age_s
    for item in (path / "part", path):
        os.utime(item, (then, then))
    return path


def test_our_own_dead_writers_leftovers_go_at_once_live_ones_stay(tmp_path):
    dead = leftover(tmp_path, f".tmp-{owner()}-{dead_pid()}-abc")
    live = leftover(tmp_path, f"{temporary_prefix('tmp')}def")
    assert sweep_abandoned(tmp_path, "tmp") == 1
    assert not dead.exists() and live.exists()


def test_a_writer_on_another_host_is_judged_by_age_not_by_its_pid(tmp_path):
    # Its pid means nothing here: dead here, or even ours, it may be a live writer over there.
    fresh = leftover(tmp_path, f".tmp-0123456789ab-{dead_pid()}-abc")
    mine = leftover(tmp_path, f".tmp-0123456789ab-{os.getpid()}-def", age_s=ABANDONED_AFTER_S - 60)
    stale = leftover(tmp_path, f".tmp-0123456789ab-{os.getpid()}-ghi", age_s=ABANDONED_AFTER_S + 60)
    old_style = leftover(tmp_path, f".tmp-{dead_pid()}-jkl", age_s=ABANDONED_AFTER_S + 60)
    assert sweep_abandoned(tmp_path, "tmp") == 2
    assert fresh.exists() and mine.exists() and not stale.exists() and not old_style.exists()


def test_a_long_write_stays_alive_while_it_adds_files(tmp_path):
    writing = leftover(tmp_path, f".tmp-0123456789ab-1-abc", age_s=ABANDONED_AFTER_S + 60)
    (writing / "newer").write_bytes(b"just written")  # refreshes the age
    assert sweep_abandoned(tmp_path, "tmp") == 0 and writing.exists()


def test_replace_folder_swaps_whole_and_cleans_up(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "old").write_text("old")
    assert replace_folder(out, lambda staging: (staging / "new").write_text("new") and "done", RuntimeError) == "done"
    assert [p.name for p in out.iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_a_failed_fill_leaves_the_old_folder_and_no_staging(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "old").write_text("old")

    def fail(staging):
        (staging / "half").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_folder(out, fail, RuntimeError)
    assert [p.name for p in out.iterdir()] == ["old"] and [p.name for p in tmp_path.iterdir()] == ["site"]
