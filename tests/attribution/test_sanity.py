import pytest
import torch

from reportgen.attribution import sanity


@pytest.mark.parametrize("count", [5, 16, 64, 70, 79, 80, 81, 200, 257])
def test_noise_drawn_in_pieces_is_the_noise_of_one_call(monkeypatch, count):
    monkeypatch.setattr(sanity, "NOISE_PIECE", 64)
    pieces = list(sanity.standard_normal(count, torch.Generator().manual_seed(3)))
    assert [start for start, _ in pieces] == [64 * k for k in range(len(pieces))]
    assert all(len(values) % 16 == 0 for _, values in pieces[:-1]) and (len(pieces) == 1 or len(pieces[-1][1]) >= 16)
    whole = torch.randn(count, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(torch.cat([values for _, values in pieces]), whole)


def test_the_cascade_draws_the_same_weights_whatever_the_piece_size(monkeypatch):
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(8 * 6 * 6, 10))
    network[0].weight.data = network[0].weight.data.to(memory_format=torch.channels_last)  # not contiguous

    def randomised():
        *_, (_, _, last) = sanity.cascading_randomisation(network, 2, seed=1)
        return {name: value.clone() for name, value in last.state_dict().items()}

    whole = randomised()
    monkeypatch.setattr(sanity, "NOISE_PIECE", 32)
    pieces = randomised()
    assert all(torch.equal(whole[name], pieces[name]) for name in whole)
    assert not any(torch.equal(whole[name], value) for name, value in network.state_dict().items())
    for name, value in network.state_dict().items():  # each tensor keeps its mean and spread
        assert abs(whole[name].mean() - value.mean()) < 3 * value.std() / value.numel() ** 0.5 + 1e-6
