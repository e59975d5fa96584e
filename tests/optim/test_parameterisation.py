import torch

from reportgen.optim.parameterisation import FourierImage, PhotoImage, PixelImage


def test_pixel_image_is_its_own_parameter(tiny):
    start = torch.randn(2, 3, 8, 8)
    image = PixelImage(start)
    assert torch.equal(image(), start) and image.parameters()[0].requires_grad
    image.parameters()[0].data.add_(1.0)
    assert not torch.equal(image(), start)  # a copy: the start tensor is left alone


def test_fourier_image_gives_valid_pixels_and_identical_starts(tiny):
    image = FourierImage(3, 20, 30, tiny.normalise, torch.Generator().manual_seed(0), tiny.device)
    normalised = image()
    assert normalised.shape == (3, 3, 20, 30)
    pixels = tiny.denormalise(normalised)
    assert pixels.min() >= 0 and pixels.max() <= 1
    assert torch.allclose(normalised[0], normalised[2])
    again = FourierImage(3, 20, 30, tiny.normalise, torch.Generator().manual_seed(0), tiny.device)
    assert torch.equal(again(), normalised)


def test_fourier_gradient_favours_low_frequencies(tiny):
    """The 1/f scaling: the same push on every coefficient moves low frequencies far more."""
    image = FourierImage(1, 32, 32, tiny.normalise, torch.Generator().manual_seed(0), tiny.device)
    spectrum = image.parameters()[0]
    (gradient,) = torch.autograd.grad(image()[:, 0].pow(2).sum(), spectrum)
    gradient = gradient.abs().sum(dim=(0, 1, 4))
    assert gradient[:2, :2].mean() > 5 * gradient[12:20, 8:16].mean()


def test_photo_image_starts_and_stays_between_black_and_white():
    low, high = torch.tensor([-1.0, 0.0]).view(1, 2, 1, 1), torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    photo = PhotoImage(torch.tensor([[[[-3.0, 0.5]], [[-3.0, 0.5]]]]), low, high)
    torch.testing.assert_close(photo(), torch.tensor([[[[-1.0, 0.5]], [[0.0, 0.5]]]]))  # per channel
    photo.parameters()[0].data.add_(2.0)
    photo.constrain()
    torch.testing.assert_close(photo(), torch.tensor([[[[1.0, 1.0]], [[2.0, 2.0]]]]))
    assert photo.parameters()[0].requires_grad
