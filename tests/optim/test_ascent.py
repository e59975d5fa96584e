import pytest
import torch

from reportgen.optim.ascent import Plateau, ascent, frame_steps, narrow_optimiser
from reportgen.optim.parameterisation import PhotoImage, PixelImage


def test_frames_spread_evenly_and_end_on_the_last_step():
    assert frame_steps(200, 40) == list(range(5, 201, 5))  # the seed: a frame every 5 steps
    assert frame_steps(10, 4) == [2, 5, 8, 10]


def test_frame_count_is_fixed_even_with_fewer_steps():
    assert frame_steps(3, 5) == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError):
        frame_steps(0, 5)


def _total(images):
    """Score: each image's sum, with its largest value recorded beside it."""
    return {"score": images.sum(dim=(1, 2, 3)), "largest": images.flatten(1).amax(1)}


def test_loop_yields_each_forward_before_its_update_then_the_result():
    """The objective is the sum minus a quarter of it (the regulariser): its gradient is 0.75 for
    every value, so SGD with lr 0.5 raises each value by 0.375 a step, each image's sum by 0.75."""
    image = PixelImage(torch.tensor([[1.0, 2.0], [0.0, 0.0]]).view(2, 1, 1, 2))
    optimiser = torch.optim.SGD(image.parameters(), lr=0.5)
    steps = list(ascent(image, _total, optimiser, 2, regulariser=lambda x: 0.25 * x.sum(dim=(1, 2, 3))))
    assert [step.number for step in steps] == [0, 1, 2]
    torch.testing.assert_close(torch.stack([step.values["score"] for step in steps]),
                               torch.tensor([[3.0, 0.0], [3.75, 0.75], [4.5, 1.5]]))
    torch.testing.assert_close(steps[2].values["objective"], 0.75 * steps[2].values["score"])
    torch.testing.assert_close(steps[1].values["largest"], torch.tensor([2.375, 0.375]))
    assert not any(value.requires_grad for step in steps for value in step.values.values())


def test_loop_without_measuring_the_result_still_makes_every_update():
    image = PixelImage(torch.zeros(1, 1, 1, 2))
    steps = list(ascent(image, _total, torch.optim.SGD(image.parameters(), lr=1.0), 3, measure_result=False))
    assert [step.number for step in steps] == [0, 1, 2]
    torch.testing.assert_close(image(), torch.full((1, 1, 1, 2), 3.0))


def test_transform_is_seen_by_the_score_only_and_the_photo_is_clipped_after_each_update():
    """The score sees the image doubled; the regulariser, the image itself. A photo kept within
    [-1, 0.5] stops at 0.5 however far the step would take it."""
    seen = []

    def double(images, generator):
        seen.append(generator)
        return 2 * images

    photo = PhotoImage(torch.tensor([0.0, 2.0]).view(1, 1, 1, 2), torch.tensor(-1.0), torch.tensor(0.5))
    torch.testing.assert_close(photo(), torch.tensor([0.0, 0.5]).view(1, 1, 1, 2))  # clipped at the start
    generator = torch.Generator()
    optimiser = torch.optim.SGD(photo.parameters(), lr=0.2)
    steps = list(ascent(photo, _total, optimiser, 2, double, generator, regulariser=lambda x: x.sum(dim=(1, 2, 3))))
    assert seen == [generator] * 3
    # objective = 2 x sum - sum = sum: gradient 1 per value, lr 0.2: 0 -> 0.2 -> 0.4; 0.5 stays 0.5
    torch.testing.assert_close(steps[-1].image, torch.tensor([0.4, 0.5]).view(1, 1, 1, 2))
    torch.testing.assert_close(steps[-1].values["score"], torch.tensor([1.8]))
    torch.testing.assert_close(steps[-1].values["objective"], torch.tensor([0.9]))


def test_plateau_needs_two_windows_and_a_small_rise_relative_to_the_rise_so_far():
    stop = Plateau(window=2, margin=0.1)
    rising = {"objective": [0.0, 1.0, 2.0, 3.0, 4.0]}
    flat = {"objective": [0.0, 8.0, 9.0, 9.5, 9.6]}  # last two mean 9.55, two before 8.5: rose 1.05 of 9.55
    flatter = {"objective": [0.0, 9.9, 9.95, 10.0, 10.0]}  # rose 0.075 of 10: done
    assert not stop.reached({"objective": [0.0, 1.0, 1.0, 1.0]})  # fewer than 2 windows after the start
    assert not stop.reached(rising)
    assert not stop.reached(flat)
    assert stop.reached(flatter)
    assert not Plateau(window=0, margin=0.1).reached(flatter)  # window 0: only the cap ends a run
    both = Plateau(window=2, margin=0.1, tracked=("objective", "probability"))
    assert not both.reached({**flatter, "probability": [0.0, 0.1, 0.2, 0.4, 0.6]})
    assert both.reached({**flatter, "probability": [0.0, 0.9, 1.0, 1.0, 1.0]})


def _capped_sum(limits):
    """Score: each image's value, but never above its own limit (its gradient vanishes there)."""
    def score(images):
        return {"score": torch.minimum(images.sum(dim=(1, 2, 3)), torch.as_tensor(limits))}
    return score


def test_members_that_plateau_leave_the_batch_and_the_others_go_on_as_alone():
    """Image 0 stops rising at 2 and plateaus; image 1 rises to its cap. Image 1's values are the
    same as in a batch of its own, Adam's state having followed it when image 0 left."""
    limits = [2.0, 100.0]
    stop = Plateau(window=2, margin=0.05)

    def run(rows, limit_rows):
        image = PixelImage(torch.zeros(len(rows), 1, 1, 1))
        optimiser = torch.optim.Adam(image.parameters(), lr=0.5)
        narrow = lambda kept: (_capped_sum([limit_rows[r] for r in kept]), None)
        return list(ascent(image, _capped_sum(limit_rows), optimiser, 12, stop=stop, narrow=narrow))

    together = run([0, 1], limits)
    alone = run([0], limits[1:])
    stopped = next(step for step in together if step.final[0])
    assert stopped.rows == [0, 1] and stopped.number < 12 and not stopped.final[1]
    assert all(step.rows == [1] for step in together if step.number > stopped.number)
    assert together[-1].number == 12 and together[-1].final == [True]
    image1 = torch.stack([step.values["score"][step.rows.index(1)] for step in together])
    torch.testing.assert_close(image1, torch.stack([step.values["score"][0] for step in alone]))


def test_narrowing_moves_adam_state_rows_and_keeps_its_step_count():
    old = torch.zeros(3, 2, requires_grad=True)
    optimiser = torch.optim.Adam([old], lr=0.1)
    old.grad = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    optimiser.step()
    new = old.detach()[[0, 2]].requires_grad_(True)
    narrow_optimiser(optimiser, [old], [new], [0, 2])
    assert optimiser.param_groups[0]["params"] == [new]
    state = optimiser.state[new]
    torch.testing.assert_close(state["exp_avg"], torch.tensor([[0.1, 0.1], [0.3, 0.3]]))
    assert float(state["step"]) == 1.0 and old not in optimiser.state
