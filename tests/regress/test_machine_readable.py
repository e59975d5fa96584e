"""`reportgen check --format json|junit`: what CI systems read."""
import json
from xml.etree import ElementTree

import numpy as np
from click.testing import CliRunner
from PIL import Image

from reportgen.core.artifacts import Manifest
from reportgen.interface.cli import main
from reportgen.core.pipeline import build
from reportgen.core.progress import Silent
from reportgen.gallery.site import write_site
from helpers import config, write_inputs


def check(tmp_path, cfg, *extra):
    return CliRunner().invoke(main, ["check", str(tmp_path / "baseline"), "--out", str(cfg.out),
                                     "--cache-dir", str(cfg.cache_dir), *extra])


def make_site(tmp_path, **changes):
    cfg = config(tmp_path, **changes)
    report = build(cfg, Silent())
    write_site(report.manifest, cfg.cache_dir, report.images, cfg.out)
    return cfg


def test_json_and_junit_say_passed_count_and_name_every_artifact_that_moved(tmp_path):
    write_inputs(tmp_path / "inputs")
    cfg = make_site(tmp_path)
    assert check(tmp_path, cfg, "--update").exit_code == 0
    passed = check(tmp_path, cfg, "--format", "json")
    assert passed.exit_code == 0, passed.output
    document = json.loads(passed.stdout)
    total = len(json.loads((cfg.out / "manifest.json").read_text())["artifacts"])
    assert document["passed"] is True and document["counts"]["compared"] == total == document["counts"]["identical"]
    assert document["moved"] == document["appeared"] == document["vanished"] == []

    manifest = Manifest.from_json(json.loads((cfg.out / "manifest.json").read_text()))
    moved = next(a for a in manifest.of("feature_maps") if a.image == "a.png")
    path = cfg.out / moved.files["grid"].path
    Image.fromarray(255 - np.asarray(Image.open(path).convert("RGB"))).save(path)
    failed = check(tmp_path, cfg, "--format", "json")
    assert failed.exit_code == 1
    document = json.loads(failed.stdout)
    assert document["passed"] is False and document["counts"]["moved"] == 1
    (entry,) = document["moved"]
    assert entry["artifact"] == moved.describe() and entry["key"] == moved.key
    assert entry["differences"][0]["role"] == "grid" and document["report"].endswith("regressions.html")

    junit = check(tmp_path, cfg, "--format", "junit")
    assert junit.exit_code == 1
    suite = ElementTree.fromstring(junit.stdout).find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == total and suite.get("tests") == str(total) and suite.get("failures") == "1"
    (failing,) = [case for case in cases if case.find("failure") is not None]
    assert failing.get("name") == moved.describe() and failing.get("classname") == "feature_maps.tiny"
    assert failing.find("failure").get("message").startswith("moved: grid")


def test_json_lists_what_appeared_and_vanished(tmp_path):
    write_inputs(tmp_path / "inputs")
    cfg = make_site(tmp_path, techniques=("filters",))
    assert check(tmp_path, cfg, "--update").exit_code == 0
    changed = make_site(tmp_path, techniques=("filters",), overrides={"filters": {"max_filters": 4}},
                        out=tmp_path / "changed")
    document = json.loads(check(tmp_path, changed, "--format", "json").stdout)
    assert document["passed"] is False
    assert document["counts"]["appeared"] == document["counts"]["vanished"] == len(document["appeared"]) > 0
    assert {a["technique"] for a in document["appeared"] + document["vanished"]} == {"filters"}
