"""The squared gradient: the vanilla gradient's square, so that a pixel counts by how much the
score's sensitivity to it is, whichever way (SmoothGrad-Squared's map, without the noise).

A saliency method is one ``SaliencyMethod`` subclass: the shared pass gives the gradient rules it
names in ``rules``, ``attribute`` returns its map (N x C x H x W); its row on the saliency page
and on the faithfulness page, its cache key and its sanity metrics follow from the class."""
from __future__ import annotations

from reportgen.attribution.methods import SaliencyMethod


class SquaredGradient(SaliencyMethod):
    name = "squared_gradient"
    title = "Squared gradient"
    rules = ("vanilla",)

    def attribute(self, batch):
        return batch.shared.gradients["vanilla"] ** 2
