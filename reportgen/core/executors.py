"""Where the cache misses are computed: in this process, or as Ray tasks on a cluster.

The driver plans, checks the cache and renders the site either way. An executor receives the
misses as jobs (one technique on one model: a batch of requests, batched inside as always) and
every result lands in the same content-addressed cache through the same atomic writes, so both
executors leave the same entries. Ray is imported only by ``RayExecutor``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from reportgen.core.cache import Cache, Entry
from reportgen.core.choices import EXECUTORS
from reportgen.core.errors import first_line
from reportgen.core.memory import return_free_memory
from reportgen.models import LoadedModel, ModelCard, load, prepare_device, select_device
from reportgen.models.declared import UserModel
from reportgen.core.progress import Progress, Silent
from reportgen.techniques.base import Context, Request, registry

RAY_INSTALL = 'pip install -e ".[ray]"'  # or `pip install "reportgen[ray]"`
# How long a cluster's address may take to answer; Ray's own connection retries for minutes.
RAY_CONNECT_TIMEOUT_S = 10.0
RAY_LOCAL_ADDRESSES = (None, "", "auto", "local")


class ExecutorError(Exception):
    """The executor cannot run; the message is for a person."""


@dataclass(frozen=True)
class Job:
    """One technique on one model: the requests its cache missed and their keys."""

    model: str
    technique: str
    requests: tuple[Request, ...]
    keys: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.technique} on {self.model}: {len(self.requests)} to compute"

    @property
    def images(self) -> int:
        """How many input images the job's requests read (0 for image-independent work)."""
        return len({r.image.pixel_hash for r in self.requests if r.image is not None})

    def chunks(self, size: int) -> list["Job"]:
        """The job split into jobs of at most ``size`` images each (all of an image's requests in
        one, images in the order the technique batches them), so several workers share a model's
        images; image-independent jobs stay whole."""
        hashes = [r.image.pixel_hash for r in self.requests if r.image is not None]
        if len(hashes) < len(self.requests):
            return [self]
        order = list(dict.fromkeys(hashes))
        if len(order) <= size:
            return [self]
        chunk_of = {image: index // size for index, image in enumerate(order)}
        parts: list[list[int]] = [[] for _ in range(-(-len(order) // size))]
        for position, image in enumerate(hashes):
            parts[chunk_of[image]].append(position)
        return [Job(self.model, self.technique, tuple(self.requests[i] for i in part), tuple(self.keys[i] for i in part))
                for part in parts]


# A model's jobs of one wave, made when the waves before it are done on that model (their
# artifacts stored): first the techniques that read no other's artifacts, then those that do.
Wave = Callable[[str], Sequence[Job]]


@dataclass
class Done:
    """What a job left in the cache; ``error`` is the traceback when the technique failed."""

    job: Job
    stored: dict[str, Entry] = field(default_factory=dict)  # key -> the cache entry written
    error: str | None = None
    summary: str = ""  # the error's type and first line


def run_job(job: Job, params: Any, model: LoadedModel, cache: Cache, progress: Progress) -> Done:
    """Compute one job and store each result as it comes; a failure is returned, not raised, so
    one technique failing never loses the rest of the build."""
    technique = registry()[job.technique]
    key_of = {id(request): key for request, key in zip(job.requests, job.keys)}
    done = Done(job)
    # What an earlier try of this job stored (a worker killed midway, then retried) is kept, not redone.
    for key in job.keys:
        entry = cache.get(key)
        if entry is not None:
            done.stored[key] = entry
    todo = [request for request, key in zip(job.requests, job.keys) if key not in done.stored]
    if not todo:
        return done
    try:
        for request, result in technique.compute(params, model, todo, progress, Context(read=cache.get)):
            key = key_of[id(request)]
            if result.animations and not request.animated:  # its key would not say how they are written
                raise ValueError(f"{job.technique} made an animation for {request.variant}, not planned as animated")
            done.stored[key] = cache.put(key, result, {"model": job.model, "technique": job.technique})
    except Exception as error:
        done.error = traceback.format_exc()
        done.summary = f"{type(error).__name__}: {first_line(error)}"
    finally:
        model.release()  # the folded copies of its weights, before the next technique's
        return_free_memory()
    return done


class LocalExecutor:
    """In this process, one model loaded at a time, and only if it has work."""

    def run(self, models: Sequence[str], waves: Sequence[Wave], cards: Mapping[str, ModelCard],
            params: Mapping[str, Any], device: str, cache: Cache, progress: Progress) -> Iterator[Done]:
        device = select_device(device)
        prepare_device(device)
        for model_name in models:
            model = None
            for wave in waves:
                for job in wave(model_name):
                    if model is None:
                        progress.step(f"loading {model_name}")
                        model = load(cards[model_name], device)
                    progress.step(job.label, images=job.images)
                    yield run_job(job, params[job.technique], model, cache, progress)
            del model
            return_free_memory()


class ModelWorker:
    """A Ray actor that holds one loaded model and computes that model's jobs into the cache."""

    def __init__(self, card: ModelCard, device: str, cache: Cache, shared_check: tuple[str, str], threads: int,
                 own: UserModel | None = None):
        from reportgen.core.lazy import torch

        # Ray gives each worker one OpenMP thread; the driver's count keeps every reduction's order,
        # hence every picture, byte-identical to a local build's.
        torch.set_num_threads(threads)
        self.cache = cache  # the driver's: its folder and how it writes animations
        if not self.cache.sees_shared_check(*shared_check):
            import socket

            raise ExecutorError(f"the cache folder {cache.root} is not visible from worker node {socket.gethostname()}: "
                                "with Ray it must be on a file system every node shares")
        self.device = select_device(device)
        prepare_device(self.device)
        if own is not None:  # a user's model, rebuilt from its declaration: the same content, or no work
            from reportgen.models import embedded
            from reportgen.models.declared import declare

            declare(card.name, own)
            identity = embedded.LOCAL[card.name].identity
            if identity is not None and identity() != card.weights_id:
                raise ExecutorError(f"{card.name} changed on disk during the build (its factory or weights); "
                                    "build again")
        self.model = load(card, self.device)

    def run(self, job: Job, params: Any) -> Done:
        return run_job(job, params, self.model, self.cache, Silent())


class RayExecutor:
    """Jobs as Ray tasks on actors that each hold a loaded model (``workers`` per model). A worker
    that dies is restarted (its model loaded again) and its task retried; the cache's atomic writes
    make a retried job leave exactly what a first try would."""

    def __init__(self, address: str | None = None, workers: int | None = None,
                 runtime_env: Mapping[str, Any] | None = None, retries: int = 3,
                 own: Mapping[str, UserModel] | None = None):
        self.address, self.workers, self.runtime_env, self.retries = address, workers, runtime_env, retries
        self.own = dict(own or {})
        check_reachable(address)
        for name, model in self.own.items():
            _check_pickles(name, model)

    def run(self, models: Sequence[str], waves: Sequence[Wave], cards: Mapping[str, ModelCard],
            params: Mapping[str, Any], device: str, cache: Cache, progress: Progress) -> Iterator[Done]:
        try:
            import ray
        except ImportError:
            raise ExecutorError(f"--executor ray needs Ray: {RAY_INSTALL}") from None
        started = not ray.is_initialized()
        log = cache.new_log("ray")
        if started:
            progress.step(f"starting Ray{f' at {self.address}' if self.address else ' (local instance)'}; "
                          f"its messages: {log}")
            with _output_to(log):
                ray.init(address=self.address, runtime_env=dict(self.runtime_env or {}), include_dashboard=False,
                         logging_level=logging.ERROR, log_to_driver=False)
        shared_check = cache.leave_shared_check()
        try:
            for wave in waves:  # workers run a model's jobs at once: a wave waits for the one before
                jobs = [job for model_name in models for job in wave(model_name)]
                if jobs:
                    yield from self._run(ray, jobs, cards, params, device, cache, shared_check, progress)
        finally:
            cache.remove_shared_check(shared_check[0])
            if started:
                with _output_to(log):
                    ray.shutdown()

    def _run(self, ray, jobs, cards, params, device, cache, shared_check, progress) -> Iterator[Done]:
        from reportgen.core.lazy import torch

        threads = torch.get_num_threads()
        gpus = 1 if device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1 else 0
        workers = self.workers or max(1, int(ray.cluster_resources().get("GPU" if gpus else "CPU", 1)))
        # Ray gives each GPU worker its own GPU, which it sees as the first: cuda:N means "a GPU" there.
        worker_device = "cuda" if device.startswith("cuda") else device
        actor = ray.remote(num_cpus=0 if gpus else 1, num_gpus=gpus, max_restarts=self.retries,
                           max_task_retries=self.retries)(ModelWorker)
        pending: dict[Any, Job] = {}
        for model_name in dict.fromkeys(job.model for job in jobs):
            model_jobs = [chunk for job in jobs if job.model == model_name
                          for chunk in job.chunks(chunk_images(params[job.technique], job.images, workers))]
            own = self.own.get(model_name)
            pool = [actor.remote(cards[model_name], worker_device, cache, shared_check, threads, own)
                    for _ in range(min(workers, len(model_jobs)))]
            for index, job in enumerate(model_jobs):
                pending[pool[index % len(pool)].run.remote(job, params[job.technique])] = job
        total, finished = len(pending), 0
        progress.step(f"{total} jobs on Ray, {workers} worker(s) per model",
                      images=sum(job.images for job in pending.values()))
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready)
            try:
                done = ray.get(ready)
            except ray.exceptions.RayError as error:  # the actor could not start (cache not shared, weights)
                raise ExecutorError(_reason(error)) from None
            if done.error is not None:
                progress.message(f"{job.label}: failed")
            finished += 1
            progress.tick(finished, total)
            yield done


CHUNKS_PER_WORKER = 4  # enough chunks that a fast worker takes on a slow one's share


def chunk_images(params: Any, images: int, workers: int) -> int:
    """Images per chunk of a per-image job on Ray: whole batches of the technique (so every batch
    holds the images a local build's would, and gives the same bytes), about ``CHUNKS_PER_WORKER``
    chunks per worker."""
    batch = getattr(params, "batch_size", None) or 1
    batches = -(-images // batch)
    return batch * max(1, -(-batches // (workers * CHUNKS_PER_WORKER)))


def _check_pickles(name: str, model: UserModel) -> None:
    """A module passed from Python reaches Ray workers only by pickling (Ray's cloudpickle); say so at
    once if it cannot."""
    try:
        from ray import cloudpickle as pickler
    except ImportError:  # RayExecutor.run says how to install Ray
        return
    try:
        pickler.dumps(model)
    except Exception as error:  # noqa: BLE001 - pickling fails in many ways (lambdas, open files, locks)
        raise ExecutorError(f"models[{name!r}] cannot go to Ray workers: it does not pickle ({first_line(error)}); "
                            "build it with the local executor, or declare it in the config file "
                            "(factory + weights)") from None


def check_reachable(address: str | None, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """A cluster address (``HOST:PORT`` or ``ray://HOST:PORT``) that does not answer fails here, in
    one line naming it, before Ray is imported: Ray itself retries for minutes, printing warnings."""
    if address in RAY_LOCAL_ADDRESSES:
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--ray-address {address!r} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ExecutorError(f"no Ray cluster answers at {address}: {error.strerror or error}") from None


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """This process's stdout and stderr, at the file-descriptor level (Ray's core writes there, not
    through Python), appended to ``log`` for the duration."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(log, "ab") as stream:
            os.dup2(stream.fileno(), 1)
            os.dup2(stream.fileno(), 2)
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in zip((1, 2), saved):
            os.dup2(original, fd)
            os.close(original)


def _reason(error: Exception) -> str:
    """The person-readable line inside a Ray error (ours when an actor refused to start)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for marker in ("ExecutorError: ", "ModelError: ", "WeightsError: "):
        for line in reversed(lines):
            if marker in line:
                return line.split(marker, 1)[1]
    return f"a Ray worker failed: {lines[-1] if lines else type(error).__name__}"


def executor_for(name: str, address: str | None = None, workers: int | None = None,
                 own: Mapping[str, UserModel] | None = None) -> LocalExecutor | RayExecutor:
    """``own``: a user's models by name (models/declared.py), which Ray workers rebuild from them."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, workers, own=own)
    raise ExecutorError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
