"""The executors: the local one never imports Ray; the Ray one (a local instance) leaves the same
cache entries and pictures, survives a worker that dies mid-build, and says how to install Ray."""
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import config, count_computed, write_inputs
from reportgen.core.cache import Cache
from reportgen.interface.overrides import parse_overrides
from reportgen.core.executors import Job, chunk_images, run_job
from reportgen.core.pipeline import BuildError, build
from reportgen.core.progress import Silent
from reportgen.gallery.site import write_site
from reportgen.techniques import feature_maps
from reportgen.techniques.base import registry

TESTS = Path(__file__).resolve().parent.parent
TECHNIQUES = ("feature_maps", "filters", "saliency", "class_ascent")


def site_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_local_executor_does_not_import_ray(tmp_path):
    write_inputs(tmp_path / "inputs")
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import conftest;"
        "from helpers import config; from pathlib import Path;"
        "from reportgen.core.pipeline import build; from reportgen.core.progress import Silent;"
        f"report = build(config(Path({str(tmp_path)!r})), Silent());"
        "assert report.computed > 0 and not report.errors, report.errors;"
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_without_ray_the_executor_says_how_to_install_it(tmp_path, monkeypatch):
    write_inputs(tmp_path / "inputs")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(BuildError, match=r'needs Ray: pip install -e "\.\[ray\]"'):
        build(replace(config(tmp_path), executor="ray"), Silent())


def test_a_job_splits_into_chunks_of_whole_images_in_the_order_it_batches_them(tiny_card, images):
    more = images + [replace(image, name=f"c{n}.png", pixel_hash=f"{n}" * 64) for n, image in enumerate(images)]
    requests = tuple(feature_maps.FeatureMaps().plan(feature_maps.FeatureMaps.Params(), tiny_card, more))
    job = Job("tiny", "feature_maps", requests, tuple(f"k{n}" for n in range(len(requests))))
    chunks = job.chunks(3)
    assert [c.images for c in chunks] == [3, 1] and sum(len(c.requests) for c in chunks) == len(requests)
    assert [r.image.name for c in chunks for r in c.requests if r.variant == requests[0].variant] == [i.name for i in more]
    key_of = {id(r): k for r, k in zip(requests, job.keys)}
    assert all(key_of[id(r)] == k for c in chunks for r, k in zip(c.requests, c.keys))
    assert chunk_images(feature_maps.FeatureMaps.Params(batch_size=4), 100, 2) == 16  # whole batches, ~4 per worker
    assert chunk_images(feature_maps.FeatureMaps.Params(batch_size=4), 3, 2) == 4


def test_a_retried_job_computes_only_what_an_earlier_try_did_not_store(tmp_path, tiny, images, monkeypatch):
    technique = feature_maps.FeatureMaps()
    params = technique.Params()
    requests = tuple(technique.plan(params, tiny.card, images))
    job = Job("tiny", "feature_maps", requests, tuple(f"{n:064x}" for n in range(len(requests))))
    cache = Cache(tmp_path / "cache")
    first = run_job(replace(job, requests=requests[:2], keys=job.keys[:2]), params, tiny, cache, Silent())
    computed = count_computed(monkeypatch, feature_maps.FeatureMaps)
    retried = run_job(job, params, tiny, cache, Silent())
    assert computed == list(requests[2:]) and retried.error is None
    assert set(retried.stored) == set(job.keys) and all(retried.stored[k] == first.stored[k] for k in first.stored)


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    ray = pytest.importorskip("ray")
    marker = tmp_path_factory.mktemp("ray") / "died"
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS), "REPORTGEN_TEST_DIE_ONCE": str(marker),
                                       "OMP_WAIT_POLICY": "PASSIVE"},
                          "worker_process_setup_hook": "ray_worker_setup.setup"})
    yield marker
    ray.shutdown()


def built_locally_and_on_ray(tmp_path, local):
    """Build ``local``, then the same on Ray (two workers): the same keys, every page and picture
    byte for byte. Returns the local report and the Ray configuration."""
    on_ray = replace(local, out=tmp_path / "ray" / "site", cache_dir=tmp_path / "ray" / "cache", executor="ray",
                     ray_workers=2)
    expected = build(local, Silent())
    write_site(expected.manifest, local.cache_dir, expected.images, local.out)
    report = build(on_ray, Silent())
    assert not report.errors, report.errors
    write_site(report.manifest, on_ray.cache_dir, report.images, on_ray.out)
    assert [a.key for a in report.manifest.artifacts] == [a.key for a in expected.manifest.artifacts]
    assert site_files(on_ray.out) == site_files(local.out)
    return expected, on_ray


def test_a_ray_build_matches_the_local_one_even_when_a_worker_dies(tmp_path, ray_instance):
    write_inputs(tmp_path / "inputs", names=[f"{n}.png" for n in range(5)])
    # one image a batch: each model's images go to both workers in chunks
    overrides = parse_overrides(["feature_maps.batch_size=1", "saliency.batch_size=1"], registry())
    local = config(tmp_path / "local", input_dir=tmp_path / "inputs", techniques=TECHNIQUES, overrides=overrides)
    expected, on_ray = built_locally_and_on_ray(tmp_path, local)
    assert ray_instance.read_text().startswith("worker ")  # a worker did die mid-build, and was retried
    warm = build(replace(on_ray, executor="local"), Silent())
    assert warm.computed == 0 and warm.cached == expected.computed


def test_a_cache_the_workers_cannot_see_is_refused_before_any_work(tmp_path, ray_instance, monkeypatch):
    monkeypatch.setattr(Cache, "leave_shared_check", lambda cache: (".no-such-check", "token"))
    write_inputs(tmp_path / "inputs")
    settings = replace(config(tmp_path, input_dir=tmp_path / "inputs", techniques=("filters",)), executor="ray")
    with pytest.raises(BuildError, match="is not visible from worker node .*file system every node shares"):
        build(settings, Silent())


def test_an_unreachable_cluster_fails_at_once_in_one_line_naming_it(tmp_path):
    import time

    from click.testing import CliRunner

    from reportgen.interface.cli import main

    write_inputs(tmp_path / "inputs")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["build", str(tmp_path / "inputs"), "--models", "tiny", "--techniques", "filters",
                                       "--preset", "quick", "--out", str(tmp_path / "site"),
                                       "--cache-dir", str(tmp_path / "cache"), "--executor", "ray",
                                       "--ray-address", "127.0.0.1:1", "-q"])
    assert time.monotonic() - started < 30
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: no Ray cluster answers at 127.0.0.1:1")


def test_a_cluster_address_that_answers_is_let_through_and_a_malformed_one_is_named():
    import socket

    from reportgen.core.executors import ExecutorError, check_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
        check_reachable(f"ray://127.0.0.1:{server.getsockname()[1]}")
    for local in (None, "auto", "local"):
        check_reachable(local)
    with pytest.raises(ExecutorError, match="'nowhere' is not HOST:PORT"):
        check_reachable("nowhere")


def test_rays_own_output_goes_to_the_log_not_the_terminal(tmp_path, capfd):
    import os

    from reportgen.core.executors import _output_to

    log = tmp_path / "logs" / "ray.log"
    with _output_to(log):
        os.write(2, b"[core] Failed to connect to GCS\n")
        os.write(1, b"raylet says hello\n")
    os.write(2, b"back on the terminal\n")
    captured = capfd.readouterr()
    assert "GCS" not in captured.err and "raylet" not in captured.out and "back on the terminal" in captured.err
    assert log.read_text() == "[core] Failed to connect to GCS\nraylet says hello\n"


def test_a_declared_model_reaches_ray_workers_by_its_declaration_and_builds_the_same(tmp_path, ray_instance):
    from models.test_declared import declare as write_declared
    from reportgen.interface.config import load_config

    write_declared(tmp_path)
    declared = load_config(tmp_path / "reportgen.toml").declared
    local = config(tmp_path / "local", input_dir=tmp_path / "inputs", models=("mine",), techniques=TECHNIQUES,
                   user_models=declared)
    built_locally_and_on_ray(tmp_path, local)


def test_a_module_that_does_not_pickle_is_refused_for_ray_in_one_line(tmp_path, ray_instance):
    import torch

    from reportgen.models.declared import ModelSpec

    class Connected(torch.nn.Sequential):
        """A module holding something that copies in this process but cannot be sent (a connection)."""

        def __init__(self):
            super().__init__(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                             torch.nn.Linear(4, 2))

        def __getstate__(self):
            raise TypeError("it holds a live connection")

        def __deepcopy__(self, memo):
            copied = Connected()
            copied.load_state_dict(self.state_dict())
            return copied

    write_inputs(tmp_path / "inputs")
    spec = ModelSpec(module=Connected(), classes=["a", "b"], input_size=32)
    with pytest.raises(BuildError, match=r"models\['mine'\] cannot go to Ray workers: it does not pickle"):
        build(config(tmp_path, models=("mine",), executor="ray", user_models={"mine": spec}), Silent())
