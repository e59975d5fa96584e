"""The benchmark's machinery on the tiny model and the quick preset: structure, not timings."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root holds benchmarks/

from benchmarks import bench, naive  # noqa: E402
from helpers import write_inputs  # noqa: E402
from reportgen.techniques.base import registry  # noqa: E402

# Every technique that computes its own results (faithfulness scores saliency's: benchmarks/faithfulness.py)
# from the two inputs benchmarked (a map of the folder needs more: ``min_inputs``).
TECHNIQUES = tuple(name for name, technique in registry().items()
                   if technique.gallery and not technique.reads and technique.min_inputs <= 2)
NO_ARITHMETIC = ("filters",)  # it reads the weights: no FLOPs either way


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    inputs = write_inputs(tmp_path_factory.mktemp("bench") / "inputs", names=("a.png", "b.png", "c.png"))
    options = bench.Options(models=("tiny",), techniques=TECHNIQUES, images=2, input_dir=inputs, preset="quick",
                            probes=False, rebuild=False)
    return bench.benchmark(options)


def test_every_technique_is_timed_both_ways_with_flops_and_memory(report, tiny_card):
    assert [row["technique"] for row in report["rows"]] == list(TECHNIQUES)
    assert report["images"] == ["a.png", "b.png"]  # --images 2 takes the first two by name
    for row in report["rows"] + [report["total"]]:
        assert row["reportgen_s"] > 0 and row["naive_s"] > 0 and row["speedup"] > 0
        if row["technique"] not in NO_ARITHMETIC:
            assert row["reportgen_flops"] > 0 and row["naive_flops"] > 0
            assert row["reportgen_flops_per_s"] > 0 and row["naive_flops_per_s"] > 0
        assert row["reportgen_peak_mb"] > 0 and row["naive_peak_mb"] > 0
    technique = registry()["feature_maps"]
    layers = technique.layers_for(technique.params_for("quick"), tiny_card)
    assert report["rows"][0]["artifacts"] == 2 * len(layers)  # two images x every default layer
    total = report["total"]
    assert total["naive_s"] == pytest.approx(sum(row["naive_s"] for row in report["rows"]))
    assert total["speedup"] == pytest.approx(total["naive_s"] / total["reportgen_s"])


def test_the_naive_loops_compute_what_reportgen_computes(report):
    """Same requests, same hyper-parameters: the raw arrays agree to float rounding, which an
    optimisation's steps amplify (class ascent one run at a time against batched: 0.0038 under
    this machine's, AVX2 and the oldest kernels alike)."""
    for row in report["rows"]:
        limit = 0.02 if registry()[row["technique"]].optimises else 1e-3
        assert row["max_relative_difference"] is not None and row["max_relative_difference"] < limit, row


def test_naive_work_is_counted_larger_than_reportgen_work(report):
    # Weight gradients and unshared forwards: the naive way does strictly more arithmetic.
    for row in report["rows"]:
        if row["technique"] not in NO_ARITHMETIC:
            assert row["naive_flops"] > row["reportgen_flops"], row["technique"]


def test_table_has_a_row_per_technique_and_the_total(report):
    table = bench.table(report)
    assert table.count("\n") == 1 + len(report["rows"]) + 1  # header, rule, rows, total
    assert "| total |" in table and "| saliency |" in table


def test_probes_measure_the_machine():
    assert bench.matmul_rate("cpu", repeats=1)["flops_per_s"] > 0
    assert bench.probe_step("tiny", 1, "cpu") > 0


def test_loop_flops_extrapolates_one_step_times_steps():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Loop:
        steps: int = 7

    import torch

    def run(params):
        for _ in range(params.steps):
            torch.ones(4, 5) @ torch.ones(5, 6)

    assert bench.loop_flops(run, Loop(), ("steps",)) == 7 * 2 * 4 * 5 * 6


def test_a_naive_loop_exists_for_every_technique_that_computes_its_own_maps():
    # faithfulness scores saliency's cached maps with forward passes only: benchmarks/faithfulness.py
    assert {name for name, technique in registry().items() if not technique.reads} <= set(naive.RUNNERS)


def test_unfrozen_copy_leaves_the_model_frozen(tiny):
    copy = naive.unfrozen(tiny)
    assert all(p.requires_grad for p in copy.module.parameters())
    assert not any(p.requires_grad for p in tiny.module.parameters())
    first = next(tiny.module.parameters())
    assert np.array_equal(first.numpy(), next(copy.module.parameters()).detach().numpy())


def test_depthwise_weight_gradient_flops_are_counted_once_per_weight():
    import torch

    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    flops = bench.count_flops(lambda: conv(x).sum().backward())
    forward = 2 * 2 * 8 * 5 * 5 * 9  # batch x channels x positions x taps, a multiply and an add each
    assert flops == 3 * forward  # forward, input gradient, weight gradient: the same work each
