"""Saliency methods beyond the gradient rules and CAMs: Input x Gradient and Gradient SHAP (Captum's
gradient-times-input family), and RISE and occlusion, which need no gradient at all and so work
for any model, also where its gradients mislead. Registered after ``attribution.methods``' own
(``reportgen/attribution/__init__.py`` imports this module), so their rows follow. The arithmetic
is ``attribution.perturbation``; importing this module does not import torch."""
from __future__ import annotations

from reportgen.attribution.methods import SaliencyMethod, heat_files, register
from reportgen.core.meta import SaliencyRoles as Roles


@register
class InputXGradient(SaliencyMethod):
    """The vanilla gradient times the (normalised) input (Shrikumar et al. 2016): a pixel counts by
    the score's sensitivity to it and by how far it is from the dataset's mean colour."""

    name, title, rules = "input_x_gradient", "Input x Gradient", ("vanilla",)

    def attribute(self, batch):
        return batch.shared.gradients["vanilla"] * batch.inputs


@register
class GradientShap(SaliencyMethod):
    """Expected gradients (Erion et al. 2021, Captum's ``GradientShap``): per sample, a baseline of
    uniform random pixels, seeded noise on the input, a random point between them, and there the
    gradient times (noisy input - baseline); averaged over the samples."""

    name, title = "gradient_shap", "Gradient SHAP"
    key_fields = ("gradshap_samples", "gradshap_noise", "seed")

    def attribute(self, batch):
        from reportgen.attribution import paths, perturbation

        inputs, settings = batch.inputs, batch.settings
        black, white = settings.pixel_bounds(inputs)
        spread = paths.noise_spread(inputs, settings.gradshap_noise)
        draws = perturbation.shap_draws(inputs, black, white, spread, settings.gradshap_samples, batch.noise_seeds)
        return perturbation.gradient_shap(batch.module, inputs, batch.shared.targets, draws, settings.batch_size)


@register
class Rise(SaliencyMethod):
    """RISE (Petsiuk et al. 2018): the input seen through many seeded random masks (a coarse grid
    of kept and hidden cells, upsampled bilinearly at a random shift), each mask weighted by the
    explained class's probability through it. Published as a heat map over the image."""

    name, title = "rise", "RISE"
    key_fields = ("rise_masks", "rise_cells", "rise_keep", "seed")
    renderings = ((Roles.OVERLAY, "heat map"),)

    def attribute(self, batch):
        from reportgen.attribution import perturbation

        settings, size = batch.settings, tuple(batch.inputs.shape[2:])
        masks = [perturbation.rise_masks(settings.rise_masks, settings.rise_cells, settings.rise_keep, size, seed)
                 for seed in batch.noise_seeds]
        return perturbation.rise(batch.module, batch.inputs, batch.shared.targets, masks, settings.batch_size)

    def files(self, attribution, cam, photo, display):
        # Every pixel's value holds the class's mean probability over the masks: shown from the
        # map's minimum, else one colour.
        return heat_files(attribution, photo, from_minimum=True)


@register
class Occlusion(SaliencyMethod):
    """Occlusion sensitivity (Zeiler & Fergus 2014, Captum's ``Occlusion``): a square of the
    dataset's mean colour slid over the input; per pixel, the mean drop of the explained class's
    probability over the squares covering it. Published as a heat map of the drops (rises, where
    hiding a part helped the class, are kept in the raw map)."""

    name, title = "occlusion", "Occlusion"
    key_fields = ("occlusion_window", "occlusion_stride")
    renderings = ((Roles.OVERLAY, "heat map"),)

    def attribute(self, batch):
        from reportgen.attribution import perturbation

        settings = batch.settings
        return perturbation.occlusion(batch.module, batch.inputs, batch.shared.targets, settings.occlusion_window,
                                      settings.occlusion_stride, settings.batch_size)

    def files(self, attribution, cam, photo, display):
        return heat_files(attribution, photo)
