import json
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.interface.config import ConfigError
from reportgen.interface.overrides import parse_overrides
from reportgen.core.artifacts import Manifest
from reportgen.core.pipeline import BuildError, build
from reportgen.core.progress import Silent
from reportgen.techniques import feature_maps
from reportgen.techniques.base import registry
from helpers import config, count_computed, write_inputs


@pytest.fixture
def inputs(tmp_path):
    return write_inputs(tmp_path / "inputs")


def test_first_build_computes_and_second_hits_the_cache(tmp_path, inputs):
    first = build(config(tmp_path), Silent())
    # predictions (2 images) + feature maps (2 images x 3 activation layers) + filters (2 weights)
    assert (first.computed, first.cached) == (2 + 6 + 2, 0)
    second = build(config(tmp_path), Silent())
    assert (second.computed, second.cached) == (0, 10)
    assert second.manifest == first.manifest
    assert second.summary() == "10 artifacts: 0 computed, 10 cached"


def test_changing_one_parameter_recomputes_only_what_depends_on_it(tmp_path, inputs):
    build(config(tmp_path), Silent())
    overrides = parse_overrides(["feature_maps.layers=features.1,features.2"], registry())
    report = build(config(tmp_path, overrides=overrides), Silent())
    # features.1 was already among the default layers: only features.2 is new (2 images)
    assert (report.computed, report.cached) == (2, 2 + 2 + 2)


def test_manifest_describes_every_artifact(tmp_path, inputs):
    manifest = build(config(tmp_path), Silent()).manifest
    assert [m.name for m in manifest.models] == ["tiny"]
    assert {i.name for i in manifest.images} == {"a.png", "b.png"}
    maps = manifest.of("feature_maps")
    assert {a.variant for a in maps} == {"features.1", "features.3", "features.5"}
    first = maps[0]
    assert first.spec["layer"] == first.variant and first.image in ("a.png", "b.png")
    assert set(first.cache_files) == {"activations", "grid"}
    assert all(a.image is None for a in manifest.of("filters"))
    assert Manifest.from_json(json.loads(json.dumps(manifest.to_json()))) == manifest


def test_a_failing_technique_does_not_lose_the_rest(tmp_path, inputs, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")
        yield

    monkeypatch.setattr(feature_maps.FeatureMaps, "compute", explode)
    report = build(config(tmp_path), Silent())
    (line,) = report.errors
    assert "feature_maps on tiny failed: RuntimeError: boom" in line and "\n" not in line
    assert f"(traceback in {report.log})" in line and report.log.parent == tmp_path / "cache" / "logs"
    assert "Traceback" in report.log.read_text() and 'raise RuntimeError("boom")' in report.log.read_text()
    assert {a.technique for a in report.manifest.artifacts} == {"predictions", "filters"}


def test_bad_layer_fails_before_any_work(tmp_path, inputs):
    overrides = parse_overrides(["feature_maps.layers=nope"], registry())
    with pytest.raises(BuildError, match="no layer 'nope'"):
        build(config(tmp_path, overrides=overrides), Silent())
    assert not (tmp_path / "cache" / "objects").exists()


def test_unknown_set_key_lists_valid_parameters():
    with pytest.raises(ConfigError, match="valid: layers, channels"):
        parse_overrides(["feature_maps.depth=3"], registry())
    with pytest.raises(ConfigError, match="unknown technique"):
        parse_overrides(["nothing.x=1"], registry())


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "inputs").mkdir()
    with pytest.raises(BuildError, match="no usable images"):
        build(config(tmp_path), Silent())


def test_strict_refuses_skipped_inputs(tmp_path, inputs):
    (inputs / "broken.png").write_bytes(b"not a png")
    assert build(config(tmp_path), Silent()).skipped
    with pytest.raises(BuildError, match="--strict"):
        build(config(tmp_path, strict=True), Silent())


def test_warm_rebuild_does_not_import_torch(tmp_path, inputs):
    build(config(tmp_path), Silent())
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r});"
        "from helpers import config; from pathlib import Path;"
        "from reportgen.core.pipeline import build; from reportgen.core.progress import Silent;"
        f"report = build(config(Path({str(tmp_path)!r})), Silent());"
        "assert report.computed == 0, report.summary();"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_build_interrupted_midway_through_a_technique_resumes_with_only_the_rest(tmp_path, monkeypatch):
    write_inputs(tmp_path / "inputs", names=[f"{n}.png" for n in range(10)], size=(32, 32))
    from reportgen.core.cache import Cache

    put, stores = Cache.put, []

    def interrupted_at_the_fifteenth(self, key, result, about=None):
        if len(stores) == 14:  # predictions' 10, then 4 of feature maps' 30
            raise KeyboardInterrupt
        stores.append(key)
        return put(self, key, result, about)

    monkeypatch.setattr(Cache, "put", interrupted_at_the_fifteenth)
    with pytest.raises(KeyboardInterrupt):
        build(config(tmp_path), Silent())
    monkeypatch.setattr(Cache, "put", put)
    computed = count_computed(monkeypatch, feature_maps.FeatureMaps)
    resumed = build(config(tmp_path), Silent())
    assert (resumed.computed, resumed.cached) == (10 * 3 - 4 + 2, 14)  # + the 2 filters
    assert len(computed) == 26 and not resumed.errors


def test_each_model_is_loaded_once_also_when_a_technique_reads_another(tmp_path, inputs, monkeypatch):
    """Faithfulness reads saliency's maps: it runs after them on the model already loaded."""
    from reportgen.core import executors

    loaded = []
    load = executors.load
    monkeypatch.setattr(executors, "load", lambda card, device: loaded.append(card.name) or load(card, device))
    overrides = parse_overrides(["saliency.methods=vanilla,gradcam", "saliency.sanity=false",
                                 "faithfulness.methods=vanilla,gradcam"], registry())
    report = build(config(tmp_path, techniques=("filters", "faithfulness", "saliency"), overrides=overrides), Silent())
    assert not report.errors
    assert {a.technique for a in report.manifest.artifacts} >= {"filters", "saliency", "faithfulness"}
    assert loaded == ["tiny"]
