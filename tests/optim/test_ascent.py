import pytest
import torch

from reportgen.optim.ascent import ascent, frame_steps
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
