import pytest

from reportgen.optim.ascent import frame_steps


def test_frames_spread_evenly_and_end_on_the_last_step():
    assert frame_steps(200, 40) == list(range(5, 201, 5))  # the seed: a frame every 5 steps
    assert frame_steps(10, 4) == [2, 5, 8, 10]


def test_frame_count_is_fixed_even_with_fewer_steps():
    assert frame_steps(3, 5) == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError):
        frame_steps(0, 5)
