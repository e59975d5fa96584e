"""Benchmark: every technique of a preset timed two ways on the same inputs, plus machine probes.

    python benchmarks/bench.py [--models efficientnet_lite0] [--techniques a,b] [--images 3]
                               [--preset standard] [--device cpu|cuda] [--threads N]
                               [--no-flops] [--no-probes] [--no-rebuild] [--json PATH]

For each model and technique: reportgen's way (``plan`` + ``compute`` on the loaded, frozen model;
no cache) against the seed scripts' way (benchmarks/naive.py: one image and one variant at a time,
weights requiring gradients, whole network every forward), on the same planned requests. Reported:
seconds and their ratio, FLOPs (counted by FlopCounterMode; loops counted at 1 and 2 steps and
extrapolated: one representative step times the number of steps) and the rate they were achieved
at against a timed float32 matmul, peak memory, and how far the two ways' raw arrays differ.
Probes: matmul rate, thread count, channels-last. Rebuild: ``reportgen build`` twice on a fresh
cache (cold, then warm). Results go to benchmarks/results-<device>.json.
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import dataclasses
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/bench.py` finds the benchmarks package
# Read once, when torch's OpenMP runtime starts. Spinning threads starve each other (and everyone
# else) on a shared machine; the thread probe measures both policies in fresh processes.
OMP_POLICY = os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, conv_backward_flop  # noqa: E402

from benchmarks import naive  # noqa: E402
from reportgen.core.artifacts import Request  # noqa: E402
from reportgen.core.cache import Cache  # noqa: E402
from reportgen.pictures.input_folder import load_folder  # noqa: E402
from reportgen.models import DEFAULT_MODEL, card_for, load, prepare_device  # noqa: E402
from reportgen.core.progress import Silent  # noqa: E402
from reportgen.techniques.base import registry  # noqa: E402

# Params fields that count the steps of a technique's loop: its FLOPs are counted at 1 and 2 steps
# of each and extrapolated linearly (counting every step under FlopCounterMode would be slow).
STEP_FIELDS = {"class_ascent": ("steps",), "layer_ascent": ("steps",), "deep_dream": ("steps", "octave_steps")}


@dataclass(frozen=True)
class Options:
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    techniques: tuple[str, ...] = ()  # empty: every technique that has a seed-style loop (benchmarks/naive.py)
    images: int | None = None  # the first N images of input_dir (sorted by name); None: all
    input_dir: Path = ROOT / "inputs"
    preset: str = "standard"
    device: str = "cpu"
    weights: str = "pretrained"  # "random": untrained weights, for timing models whose files are absent
    threads: int | None = None  # torch.set_num_threads before anything runs; None: torch's default
    flops: bool = True
    probes: bool = True
    rebuild: bool = True
    probe_only: bool = False  # the machine probes alone: no techniques, no rebuild


# --- measuring ---------------------------------------------------------------------------------


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


LIBC = _libc()


def reset_peak_memory(device: str) -> None:
    """Start a new high-water mark: CUDA's allocator stats, or the process's peak RSS (Linux)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        return
    if LIBC is not None:
        LIBC.malloc_trim(0)  # give freed heap back, so the mark starts from what is really in use
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
    except OSError:
        pass


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # never reset: the process's peak so far
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def timed(work: Callable[[], Any], device: str) -> tuple[float, Any, float]:
    """(seconds, what ``work`` returned, peak memory in MiB while it ran)."""
    reset_peak_memory(device)
    synchronise(device)
    start = time.perf_counter()
    value = work()
    synchronise(device)
    return time.perf_counter() - start, value, peak_memory_mb(device)


class _WholeProgram:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks autograd.grad rejects
    ("A leaf node was passed to _will_engine_execute_node"): every FLOP is counted as global."""

    parents = ("Global",)

    def __enter__(self) -> "_WholeProgram":
        return self

    def __exit__(self, *exception: Any) -> None:
        return None


def grouped_conv_backward_flop(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                               output_padding, groups, output_mask, out_shape, **kwargs) -> int:
    """torch's formula, except that a grouped convolution's weight gradient is counted once, not
    ``groups`` times (torch 2.14 ignores groups there: 43x too many backward FLOPs on depthwise nets)."""
    formula = getattr(conv_backward_flop, "__wrapped__", conv_backward_flop)  # registered shape-wrapped
    common = (grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding, groups)
    input_part = formula(*common, [output_mask[0], False, False], out_shape)
    weight_part = formula(*common, [False, output_mask[1], False], out_shape)
    return input_part + weight_part // groups


def count_flops(work: Callable[[], Any]) -> int:
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: grouped_conv_backward_flop})
    counter.mod_tracker = _WholeProgram()
    with counter:
        work()
    return counter.get_total_flops()


def loop_flops(run: Callable[[Any], Any], params: Any, fields: tuple[str, ...]) -> int:
    """FLOPs of ``run(params)``: counted outright, or for loops at 1 step and at 2 steps of each
    step field, then one step's FLOPs times the number of steps (linear in each field)."""
    if not fields:
        return count_flops(lambda: run(params))
    base = dataclasses.replace(params, **{field: 1 for field in fields})
    once = count_flops(lambda: run(base))
    total = once
    for field in fields:
        twice = count_flops(lambda: run(dataclasses.replace(base, **{field: 2})))
        total += (getattr(params, field) - 1) * (twice - once)
    return total


def matmul_rate(device: str, repeats: int = 5) -> dict[str, float]:
    """FLOP/s of a large float32 matrix multiply: what this machine can do at best."""
    size = 8192 if device.startswith("cuda") else 2048
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    a @ b  # warm-up
    best = min(timed(lambda: a @ b, device)[0] for _ in range(repeats))
    return {"size": size, "seconds": best, "flops_per_s": 2 * size**3 / best}


def gradient_step_ms(module: Any, inputs: Any, device: str, repeats: int = 3) -> float:
    """Best time of one forward + input-gradient backward (the inner step of every gradient loop)."""

    def step() -> None:
        x = inputs.detach().clone().requires_grad_(True)
        torch.autograd.grad(module(x).logsumexp(dim=1).sum(), [x])

    step()  # warm-up (oneDNN primitives, allocator)
    return 1000 * min(timed(step, device)[0] for _ in range(repeats))


def probe_inputs(model: Any, device: str, batch: int = 6) -> Any:
    size = model.card.input_size
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)


def thread_probes(model_name: str, device: str) -> dict[str, float | None]:
    """Gradient-step milliseconds for 1 and all threads, OpenMP's default wait policy and passive
    waiting, each in a fresh process (the runtime reads OMP_WAIT_POLICY once, at start)."""
    results: dict[str, float | None] = {}
    for policy in ("default", "PASSIVE"):
        environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        if policy != "default":
            environment["OMP_WAIT_POLICY"] = policy
        for threads in sorted({1, os.cpu_count() or 1}):
            command = [sys.executable, str(Path(__file__).resolve()), "--probe-step", model_name, str(threads), device]
            done = subprocess.run(command, env=environment, capture_output=True, text=True)
            lines = done.stdout.strip().splitlines()
            results[f"{threads} thread(s), {policy.lower()} waiting"] = float(lines[-1]) if done.returncode == 0 and lines else None
    return results


def probe_step(model_name: str, threads: int, device: str) -> float:
    """The --probe-step mode: one model's gradient-step time at a thread count, in this process."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        model = load(card_for(model_name, "pretrained", Cache(Path(folder))), device)
    return gradient_step_ms(model.module, probe_inputs(model, device), device)


def machine_probes(model: Any, device: str) -> dict[str, Any]:
    """Thread count, OpenMP waiting and memory format, on the model's gradient step."""
    inputs = probe_inputs(model, device)
    probes: dict[str, Any] = {"default_threads": torch.get_num_threads(), "omp_wait_policy": OMP_POLICY,
                              "workload": f"forward + input backward, {inputs.shape[0]} x {inputs.shape[-1]} px"}
    if not device.startswith("cuda"):
        probes["step_ms_by_threads"] = thread_probes(model.card.name, device)
    probes["step_ms_contiguous"] = gradient_step_ms(model.module, inputs, device)
    channels_last = copy.deepcopy(model.module).to(memory_format=torch.channels_last)
    probes["step_ms_channels_last"] = gradient_step_ms(channels_last, inputs.to(memory_format=torch.channels_last), device)
    if device.startswith("cuda"):
        probes["step_ms_by_gpu_setting"] = gpu_setting_probes(model.module, inputs, device)
    return probes


# The pipeline's GPU settings first (models.prepare_device), then the ones it forgoes: TF32 (faster,
# but outputs drift from the CPU's), and cuDNN's autotuner with nondeterministic kernels as well.
GPU_SETTINGS = {
    "deterministic, no TF32 (as built)": (True, False, False),
    "deterministic, TF32": (True, False, True),
    "autotuned, nondeterministic, TF32": (False, True, True),
}


def gpu_setting_probes(module: Any, inputs: Any, device: str) -> dict[str, float]:
    """Gradient-step milliseconds under each of GPU_SETTINGS (restored afterwards)."""
    cudnn = torch.backends.cudnn
    before = (torch.are_deterministic_algorithms_enabled(), cudnn.benchmark, cudnn.allow_tf32)
    results = {}
    try:
        for label, (deterministic, autotune, tf32) in GPU_SETTINGS.items():
            torch.use_deterministic_algorithms(deterministic, warn_only=True)
            cudnn.benchmark, cudnn.allow_tf32 = autotune, tf32
            results[label] = gradient_step_ms(module, inputs, device)
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=True)
        cudnn.benchmark, cudnn.allow_tf32 = before[1:]
    return results


# --- the two ways --------------------------------------------------------------------------------


def agreement(first: list, second: list) -> tuple[float | None, str | None]:
    """The largest difference between the two ways' raw arrays, relative to the array's largest
    value, and the array it was found in."""
    worst, where = None, None
    others = {id(request): result for request, result in second}
    for request, result in first:
        other = others.get(id(request))
        for role, array in result.arrays.items():
            if other is None or role not in other.arrays:
                continue
            a, b = np.asarray(array, dtype=np.float64), np.asarray(other.arrays[role], dtype=np.float64)
            scale = max(float(np.abs(a).max(initial=0.0)), 1e-12)
            difference = float(np.abs(a - b).max(initial=0.0)) / scale
            if worst is None or difference > worst:
                worst, where = difference, f"{request.variant}: {role}"
    return worst, where


def planned(technique: Any, params: Any, card: Any, images: list) -> list:
    """The technique's requests; what the model cannot do (skips) never reaches compute."""
    return [r for r in technique.plan(params, card, images if technique.per_image else []) if isinstance(r, Request)]


def measure_technique(name: str, technique: Any, params: Any, model: Any, naive_model: Any, images: list,
                      options: Options) -> dict[str, Any]:
    """One technique on one model, both ways, on the same planned requests."""
    requests = planned(technique, params, model.card, images)
    seconds, ours, memory = timed(lambda: list(technique.compute(params, model, requests, Silent())), options.device)
    naive_seconds, theirs, naive_memory = timed(lambda: naive.run(name, params, naive_model, requests), options.device)
    row = {
        "technique": name, "model": model.card.name, "artifacts": len(requests),
        "reportgen_s": seconds, "naive_s": naive_seconds, "speedup": naive_seconds / max(seconds, 1e-9),
        "reportgen_peak_mb": memory, "naive_peak_mb": naive_memory,
    }
    row["max_relative_difference"], row["worst_array"] = agreement(ours, theirs)
    if options.flops:
        fields = STEP_FIELDS.get(name, ())

        def ours_at(p):
            plan = planned(technique, p, model.card, images)
            return list(technique.compute(p, model, plan, Silent()))

        def theirs_at(p):
            return naive.run(name, p, naive_model, planned(technique, p, model.card, images))

        row["reportgen_flops"] = loop_flops(ours_at, params, fields)
        row["naive_flops"] = loop_flops(theirs_at, params, fields)
    return row


def rebuild_times(options: Options, input_dir: Path, work: Path) -> dict[str, Any]:
    """``reportgen build`` of the full default gallery twice on a fresh cache: cold, then warm."""
    beside = Path(sys.executable).with_name("reportgen")
    installed = str(beside) if beside.exists() else shutil.which("reportgen")
    # not installed, only importable (PYTHONPATH): run the package
    launcher = [installed] if installed else [sys.executable, "-m", "reportgen"]
    command = [*launcher, "build", str(input_dir), "--models", ",".join(options.models), "--preset", options.preset,
               "--device", options.device, "--weights", options.weights,
               "--out", str(work / "site"), "--cache-dir", str(work / "cache")]
    result: dict[str, Any] = {"command": " ".join(command[len(launcher):])}
    for run in ("cold", "warm"):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        result[f"{run}_s"] = time.perf_counter() - start
        result[f"{run}_summary"] = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if done.returncode != 0:
            result[f"{run}_error"] = f"exit {done.returncode}: {done.stderr.strip()[-500:]}"
    return result


def chosen_inputs(options: Options, work: Path) -> Path:
    """A folder with the first ``images`` inputs (and labels.json), so every part sees the same ones."""
    if options.images is None:
        return options.input_dir
    folder = work / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    images, _ = load_folder(options.input_dir)
    for image in sorted(images, key=lambda i: i.name)[: options.images]:
        shutil.copy2(options.input_dir / image.name, folder / image.name)
    labels = options.input_dir / "labels.json"
    if labels.exists():
        shutil.copy2(labels, folder / "labels.json")
    return folder


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    total = {"technique": "total", "artifacts": sum(r["artifacts"] for r in rows),
             "reportgen_s": sum(r["reportgen_s"] for r in rows), "naive_s": sum(r["naive_s"] for r in rows),
             "reportgen_peak_mb": max(r["reportgen_peak_mb"] for r in rows),
             "naive_peak_mb": max(r["naive_peak_mb"] for r in rows)}
    total["speedup"] = total["naive_s"] / max(total["reportgen_s"], 1e-9)
    if all("reportgen_flops" in r for r in rows):
        total["reportgen_flops"] = sum(r["reportgen_flops"] for r in rows)
        total["naive_flops"] = sum(r["naive_flops"] for r in rows)
    differences = [r["max_relative_difference"] for r in rows if r.get("max_relative_difference") is not None]
    total["max_relative_difference"] = max(differences) if differences else None
    return total


def add_rates(row: dict[str, Any], matmul: float | None) -> None:
    for way in ("reportgen", "naive"):
        if f"{way}_flops" in row:
            row[f"{way}_flops_per_s"] = row[f"{way}_flops"] / max(row[f"{way}_s"], 1e-9)
            if matmul:
                row[f"{way}_of_matmul"] = row[f"{way}_flops_per_s"] / matmul


def machine(device: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"device": device, "cpu": cpu, "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    return info


def benchmark(options: Options, say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run everything the options ask for; return the report (plain JSON-able data)."""
    if options.threads:
        torch.set_num_threads(options.threads)
    prepare_device(options.device)  # as the pipeline runs
    available = registry()
    names = list(options.techniques) or [n for n in available if n in naive.RUNNERS]  # those with a seed-style loop
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(f"unknown technique {unknown[0]!r}; valid: {', '.join(available)}")
    report: dict[str, Any] = {"options": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(options).items()},
                              "machine": machine(options.device), "load_average_start": os.getloadavg(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="reportgen-bench-") as temporary:
        work = Path(temporary)
        input_dir = chosen_inputs(options, work)
        images, _ = load_folder(input_dir)
        report["images"] = [image.name for image in images]
        matmul = None
        if options.probes:
            report["matmul"] = matmul_rate(options.device)
            matmul = report["matmul"]["flops_per_s"]
            say(f"matmul probe: {matmul / 1e9:.1f} GFLOP/s")
        cache = Cache(work / "cards")
        for model_name in options.models:
            model = load(card_for(model_name, options.weights, cache), options.device)
            if options.probes:
                report.setdefault("probes", {})[model_name] = machine_probes(model, options.device)
                say(f"probes on {model_name}: {report['probes'][model_name]}")
            if options.probe_only:
                continue
            naive_model = naive.unfrozen(model)
            for name in names:
                technique = available[name]
                params = technique.params_for(options.preset)
                row = measure_technique(name, technique, params, model, naive_model, images, options)
                add_rates(row, matmul)
                report["rows"].append(row)
                say(f"{model_name} {name}: reportgen {row['reportgen_s']:.2f} s, naive {row['naive_s']:.2f} s, "
                    f"x{row['speedup']:.1f}")
            del model, naive_model
        if not options.probe_only:
            report["total"] = totals(report["rows"])
            add_rates(report["total"], matmul)
        if options.rebuild and not options.probe_only:
            say("rebuild: reportgen build, cold then warm ...")
            report["rebuild"] = rebuild_times(options, input_dir, work)
    report["load_average_end"] = os.getloadavg()
    return report


# --- the table ---------------------------------------------------------------------------------

COLUMNS = (
    ("technique", "technique", "{}"), ("artifacts", "artifacts", "{}"),
    ("reportgen_s", "reportgen s", "{:.2f}"), ("naive_s", "naive s", "{:.2f}"), ("speedup", "speed-up", "{:.1f}x"),
    ("reportgen_flops", "reportgen GFLOP", "{:.1f}", 1e-9), ("naive_flops", "naive GFLOP", "{:.1f}", 1e-9),
    ("reportgen_flops_per_s", "reportgen GFLOP/s", "{:.1f}", 1e-9), ("reportgen_of_matmul", "of matmul", "{:.0%}"),
    ("naive_flops_per_s", "naive GFLOP/s", "{:.1f}", 1e-9),
    ("reportgen_peak_mb", "reportgen peak MiB", "{:.0f}"), ("naive_peak_mb", "naive peak MiB", "{:.0f}"),
    ("max_relative_difference", "max rel. diff", "{:.1e}"),
)


def table(report: dict[str, Any]) -> str:
    """The rows and the total as a Markdown table."""
    rows = report["rows"] + [report["total"]]
    models = {row.get("model") for row in report["rows"]}
    titles = (["model"] if len(models) > 1 else []) + [column[1] for column in COLUMNS]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for row in rows:
        cells = [str(row.get("model", ""))] if len(models) > 1 else []
        for key, _title, form, *scale in COLUMNS:
            value = row.get(key)
            cells.append("–" if value is None else form.format(value * scale[0] if scale else value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(report: dict[str, Any]) -> str:
    lines = [table(report), ""] if report["rows"] else []
    if "matmul" in report:
        m = report["matmul"]
        lines.append(f"matmul probe ({m['size']}x{m['size']} float32): {m['flops_per_s'] / 1e9:.1f} GFLOP/s")
    for model_name, probe in report.get("probes", {}).items():
        threads = ", ".join(f"{setting} {'–' if ms is None else f'{ms:.0f}'} ms"
                            for setting, ms in probe.get("step_ms_by_threads", {}).items())
        lines.append(f"{model_name} gradient step ({probe['workload']}): {threads + '; ' if threads else ''}"
                     f"contiguous {probe['step_ms_contiguous']:.0f} ms, channels-last {probe['step_ms_channels_last']:.0f} ms"
                     f" (torch default threads: {probe['default_threads']}, OMP_WAIT_POLICY {probe['omp_wait_policy']})")
        if "step_ms_by_gpu_setting" in probe:
            lines.append(f"{model_name} gradient step by GPU setting: "
                         + ", ".join(f"{label} {ms:.1f} ms" for label, ms in probe["step_ms_by_gpu_setting"].items()))
    if "rebuild" in report:
        r = report["rebuild"]
        lines.append(f"reportgen build: cold {r['cold_s']:.1f} s ({r.get('cold_summary', '')}), "
                     f"warm {r['warm_s']:.2f} s ({r.get('warm_summary', '')})")
        lines += [r[k] for k in ("cold_error", "warm_error") if k in r]
    lines.append(f"load average: {report['load_average_start'][0]:.1f} at start, {report['load_average_end'][0]:.1f} at end"
                 f" on {report['machine']['cpu_count']} CPUs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODEL, help="comma-separated model names")
    parser.add_argument("--techniques", default="", help="comma-separated technique ids (default: all)")
    parser.add_argument("--images", type=int, default=None, help="use the first N images of --input-dir")
    parser.add_argument("--input-dir", type=Path, default=ROOT / "inputs")
    parser.add_argument("--preset", default="standard", choices=("quick", "standard", "full"))
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--weights", default="pretrained", choices=("pretrained", "random"))
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before running")
    parser.add_argument("--no-flops", dest="flops", action="store_false", help="skip FLOP counting")
    parser.add_argument("--no-probes", dest="probes", action="store_false", help="skip matmul/thread/memory-format probes")
    parser.add_argument("--probe-only", action="store_true", help="run the machine probes only")
    parser.add_argument("--no-rebuild", dest="rebuild", action="store_false", help="skip the cold/warm reportgen build")
    parser.add_argument("--probe-step", nargs=3, metavar=("MODEL", "THREADS", "DEVICE"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="where to write results (default benchmarks/results-<device>.json)")
    args = parser.parse_args(argv)
    if args.probe_step:
        model_name, threads, device = args.probe_step
        print(probe_step(model_name, int(threads), device))
        return
    split = lambda text: tuple(n.strip() for n in text.split(",") if n.strip())  # noqa: E731
    options = Options(models=split(args.models), techniques=split(args.techniques), images=args.images,
                      input_dir=args.input_dir, preset=args.preset, device=args.device, weights=args.weights,
                      threads=args.threads,
                      flops=args.flops, probes=args.probes or args.probe_only, rebuild=args.rebuild,
                      probe_only=args.probe_only)
    report = benchmark(options, say=lambda line: print(line, file=sys.stderr, flush=True))
    target = args.json or ROOT / "benchmarks" / f"results-{options.device.split(':')[0]}.json"
    target.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(summary(report))
    print(f"\nwritten: {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
