"""Input x Gradient (Shrikumar et al. 2016): the vanilla gradient times the input, so a pixel
counts by how far it is from the dataset's mean colour as well as by the score's sensitivity.

A saliency method is one ``SaliencyMethod`` subclass: the shared pass gives the gradient rules it
names in ``rules``, ``attribute`` returns its map (N x C x H x W); its row on the saliency page
and on the faithfulness page, its cache key and its sanity metrics follow from the class."""
from __future__ import annotations

from reportgen.attribution.methods import SaliencyMethod


class InputXGradient(SaliencyMethod):
    name = "input_x_gradient"
    title = "Input x Gradient"
    rules = ("vanilla",)

    def attribute(self, batch):
        return batch.shared.gradients["vanilla"] * batch.inputs
