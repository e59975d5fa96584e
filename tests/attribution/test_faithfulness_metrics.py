"""Faithfulness metrics on a model whose right answer is known: its class-0 evidence is the
brightness inside a planted box, so a map covering the box must beat the random and centre maps."""
import numpy as np
import pytest
import torch
from torch import nn

from reportgen.attribution import faithfulness as F

BOX = (2, 3, 8, 9)  # rows 2..7, columns 3..8 of a 16 x 16 picture: off the centre


class PlantedBox(nn.Module):
    """Class 0's logit grows with the mean of channel 0 inside BOX; class 1's is fixed."""

    def forward(self, x):
        top, left, bottom, right = BOX
        evidence = x[:, 0, top:bottom, left:right].mean(dim=(1, 2))
        return torch.stack([20 * (evidence - 0.75), torch.zeros_like(evidence)], dim=1)


def pictures(n=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 16, 16, generator=generator) * 0.3
    top, left, bottom, right = BOX
    images[:, 0, top:bottom, left:right] = 1.0
    return images


def box_map(n=3):
    importance = torch.zeros(n, 16, 16)
    top, left, bottom, right = BOX
    importance[:, top:bottom, left:right] = 1.0
    return importance + torch.linspace(0, 1e-3, 256).view(16, 16)  # a strict order inside


def test_transfer_curves_match_a_direct_slow_computation():
    model, images = PlantedBox(), pictures(2)
    importance = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([0, 1])
    end = F.blurred(images)
    curves = F.transfer_curves(model, images, end, importance, targets, steps=5, batch_size=4)
    for n in range(2):
        order = sorted(range(256), key=lambda p: (-float(importance[n].flatten()[p]), p))
        for step in range(6):
            picture = images[n].clone()
            for pixel in order[: round(256 * step / 5)]:
                picture[:, pixel // 16, pixel % 16] = end[n, :, pixel // 16, pixel % 16]
            expected = model(picture[None]).softmax(dim=1)[0, targets[n]]
            assert abs(float(curves[n, step]) - float(expected)) < 1e-5
    assert torch.allclose(curves[:, 0], model(images).softmax(dim=1).gather(1, targets[:, None])[:, 0])


def test_blur_keeps_a_constant_picture_and_smooths_an_edge():
    flat = torch.full((1, 3, 20, 20), 0.4)
    assert torch.allclose(F.blurred(flat), flat, atol=1e-6)
    edge = torch.zeros(1, 1, 20, 20)
    edge[..., 10:] = 1
    smooth = F.blurred(edge)
    assert 0.1 < float(smooth[0, 0, 5, 9]) < 0.5 < float(smooth[0, 0, 5, 10]) < 0.9


def test_the_planted_map_beats_both_baselines_on_every_metric():
    model, images = PlantedBox(), pictures()
    targets = torch.zeros(3, dtype=torch.long)
    maps = {"planted": box_map(), "random": torch.stack([F.random_map(16, 16, s) for s in range(3)]),
            "centre": F.centre_map(16, 16).expand(3, 16, 16)}
    scores = {}
    for name, importance in maps.items():
        scores[name] = {
            "deletion": F.area_under(F.deletion_curves(model, images, importance, targets, 20)).mean(),
            "insertion": F.area_under(F.insertion_curves(model, images, importance, targets, 20)).mean(),
            "morf": F.road_curves(model, images, importance, targets, True, [0, 1, 2]).mean(),
            "lerf": F.road_curves(model, images, importance, targets, False, [0, 1, 2]).mean(),
        }
    for baseline in ("random", "centre"):
        assert scores["planted"]["deletion"] < scores[baseline]["deletion"] - 0.05
        assert scores["planted"]["insertion"] > scores[baseline]["insertion"] + 0.05
        assert scores["planted"]["morf"] < scores[baseline]["morf"] - 0.05
        assert scores["planted"]["lerf"] > scores[baseline]["lerf"] - 1e-6


@pytest.mark.parametrize("steps", [1, 5])
def test_curves_given_their_ends_measure_only_the_steps_between(steps):
    model, images = PlantedBox(), pictures(2)
    importance = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(5))
    targets = torch.tensor([0, 1])
    blur = F.blurred(images)
    ends = F.target_probabilities(model, torch.cat([images, blur]), targets.repeat(2)).chunk(2)
    seen = []
    model.register_forward_hook(lambda module, args, output: seen.append(len(args[0])))
    for curves in (F.deletion_curves, F.insertion_curves):
        given = curves(model, images, importance, targets, steps, ends=ends, blur=blur)
        assert sum(seen) == 2 * (steps - 1)
        seen.clear()
        torch.testing.assert_close(given, curves(model, images, importance, targets, steps), atol=1e-6, rtol=0)
        seen.clear()


def test_linear_imputation_solves_the_neighbour_equations():
    generator = torch.Generator().manual_seed(4)
    image = torch.rand(1, 2, 8, 8, generator=generator, dtype=torch.float64)
    removed = torch.rand(1, 8, 8, generator=generator) < 0.5
    filled = F.impute_linear(image, removed, iterations=200, tolerance=1e-12)
    assert torch.equal(filled[:, :, ~removed[0]], image[:, :, ~removed[0]])
    # Each removed pixel equals the weighted mean of its neighbours inside the picture (ROAD's
    # weights: direct neighbours 1/6, diagonal ones 1/12).
    weights = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]], dtype=torch.float64)
    for row, column in zip(*np.nonzero(removed[0].numpy())):
        total, norm = torch.zeros(2, dtype=torch.float64), 0.0
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                r, c = row + dr, column + dc
                if (dr or dc) and 0 <= r < 8 and 0 <= c < 8:
                    total += weights[dr + 1, dc + 1] * filled[0, :, r, c]
                    norm += float(weights[dr + 1, dc + 1])
        torch.testing.assert_close(filled[0, :, row, column], total / norm, atol=1e-8, rtol=0)


def test_road_noise_is_the_same_whatever_the_batch():
    model, images = PlantedBox(), pictures(3)
    importance, targets = box_map(), torch.zeros(3, dtype=torch.long)
    together = F.road_curves(model, images, importance, targets, True, [7, 8, 9])
    alone = F.road_curves(model, images[1:2], importance[1:2], targets[1:2], True, [8])
    torch.testing.assert_close(together[1:2], alone, atol=1e-6, rtol=0)


@pytest.mark.parametrize("point, hit", [((5, 5), True), ((12, 12), False), ((1, 5), True), ((5, 13), False)])
def test_pointing_hits_inside_a_box_or_within_the_tolerance(point, hit):
    importance = np.zeros((16, 16))
    importance[point] = 1.0
    assert F.pointing_hit(importance, [(3, 2, 9, 8)], tolerance=1.5) is hit


def test_baselines_know_nothing_of_the_picture():
    centre = F.centre_map(9, 11)
    assert np.unravel_index(int(centre.argmax()), centre.shape) == (4, 5)
    assert torch.equal(F.random_map(8, 8, 5), F.random_map(8, 8, 5))
    assert not torch.equal(F.random_map(8, 8, 5), F.random_map(8, 8, 6))


def test_the_batched_scoring_of_many_maps_gives_each_map_its_own_curves():
    from types import SimpleNamespace

    from reportgen.techniques.faithfulness import _curves

    model, images, targets = PlantedBox(), pictures(), torch.zeros(3, dtype=torch.long)
    maps = {"box": box_map(), "random": torch.stack([F.random_map(16, 16, seed) for seed in range(3)])}
    scoring = SimpleNamespace(steps=6, road_fractions=(0.2, 0.6))
    seeds = [4, 5, 6]
    scored = _curves(model, images, maps, targets, seeds, scoring, frames=5)  # batches cut across maps
    for name, importance in maps.items():
        np.testing.assert_allclose(scored[name]["deletion_curves"], F.deletion_curves(model, images, importance, targets, 6),
                                   atol=1e-6)
        np.testing.assert_allclose(scored[name]["insertion_curves"],
                                   F.insertion_curves(model, images, importance, targets, 6), atol=1e-6)
        for key, first in (("road_morf", True), ("road_lerf", False)):
            alone = F.road_curves(model, images, importance, targets, first, seeds, (0.2, 0.6)).mean(dim=1)
            np.testing.assert_allclose(scored[name][key], alone, atol=1e-6)


def test_maps_equal_up_to_a_positive_factor_are_grouped():
    box = box_map()
    groups = F.proportional_groups({"a": box, "b": 3 * box, "c": box.flip(-1), "d": box * 0.5 + 1e-9})
    assert groups == [["a", "b", "d"], ["c"]]
