"""The CAM family beyond Grad-CAM, as pytorch-grad-cam offers it: each method weights the CAM
layer's channels its own way (pytorch-grad-cam's ``get_cam_weights``) and sums them, ReLU'd, at the
layer's resolution (``methods.LayerMapCAM``: any layout, upsampled, published as a heat map).

Grad-CAM++ and XGrad-CAM weigh each channel by its gradient as Grad-CAM does, but not by its plain
mean; Eigen-CAM needs no class and no gradient (the activation's first principal component);
Score-CAM and Ablation-CAM need no gradient either but one forward per channel evaluated: the
input masked by the channel's map, or the network with the channel removed. Those forwards run in
batches of ``Settings.batch_size`` (image and channel pairs, any image with any other), on at most
``Settings.cam_channels`` channels per image, those with the largest total activation (the budget
shrinks the count, ``techniques.saliency_params.sized``); a channel not evaluated weighs nothing.
Importing this module does not import torch.
"""
from __future__ import annotations

from typing import Any

from reportgen.attribution.methods import Batch, LayerMapCAM, register


@register
class GradCAMPlusPlus(LayerMapCAM):
    """Grad-CAM++ (Chattopadhay et al. 2018): a cell's positive gradient weighted by how much the
    channel's other cells already explain, so that several instances of a class all count."""

    name, title, averages_cam_gradient = "gradcam_plus_plus", "Grad-CAM++", True

    def layer_map(self, batch, activation, gradient):
        from reportgen.attribution import cam

        return cam.weighted_channels(cam.grad_cam_plus_plus_weights(activation, gradient), activation)


@register
class XGradCAM(LayerMapCAM):
    """XGrad-CAM (Fu et al. 2020): channels weighted by their gradient averaged over the map in
    proportion to the activation, the weights that make the map satisfy sensitivity and
    conservation for a ReLU network."""

    name, title, averages_cam_gradient = "xgradcam", "XGrad-CAM", True

    def layer_map(self, batch, activation, gradient):
        from reportgen.attribution import cam

        return cam.weighted_channels(cam.xgrad_cam_weights(activation, gradient), activation)


@register
class EigenCAM(LayerMapCAM):
    """Eigen-CAM (Muhammad & Yeasin 2020): the CAM layer's first principal component. It explains
    no class: the same map whatever the class asked for."""

    name, title = "eigencam", "Eigen-CAM"

    def layer_map(self, batch, activation, gradient):
        from reportgen.attribution import cam

        return cam.eigen_cam(activation)


class _ForwardPerChannel(LayerMapCAM):
    """A gradient-free CAM that weighs each evaluated channel by one forward's class score."""

    key_fields = ("cam_layer", "cam_channels")

    def channel_scores(self, batch: Batch, activation: Any, images: Any, channels: Any) -> Any:
        """The class score of one forward per (image, channel) pair, given as two index vectors."""
        raise NotImplementedError

    def weights(self, batch: Batch, scores: Any) -> Any:
        """N x count evaluated channels' scores -> their weights."""
        raise NotImplementedError

    def layer_map(self, batch, activation, gradient):
        from reportgen.attribution import cam
        from reportgen.core.lazy import torch

        count, channels = activation.shape[:2]
        evaluated = cam.strongest_channels(activation, min(batch.settings.cam_channels or channels, channels))
        images = torch.arange(count, device=activation.device).repeat_interleave(evaluated.shape[1])
        pairs, step = evaluated.flatten(), batch.settings.batch_size
        with torch.no_grad():
            scores = torch.cat([self.channel_scores(batch, activation, images[start:start + step], pairs[start:start + step])
                                for start in range(0, len(images), step)])
        weights = torch.zeros(count, channels, dtype=activation.dtype, device=activation.device)
        weights.scatter_(1, evaluated, self.weights(batch, scores.view(evaluated.shape).to(activation.dtype)))
        return cam.weighted_channels(weights, activation)


def _class_scores(batch: Batch, logits: Any, images: Any) -> Any:
    return logits.gather(1, batch.shared.targets[images][:, None])[:, 0]


@register
class ScoreCAM(_ForwardPerChannel):
    """Score-CAM (Wang et al. 2020, Algorithm 1): the input masked by each channel's upsampled map
    (scaled to [0, 1]); the channels weighted by the softmax, over the channels, of the class
    logits of those masked inputs."""

    name, title = "scorecam", "Score-CAM"

    def channel_scores(self, batch, activation, images, channels):
        from reportgen.attribution import cam

        masks = cam.score_masks(activation[images, channels], tuple(batch.inputs.shape[2:]))
        return _class_scores(batch, batch.module(batch.inputs[images] * masks[:, None]), images)

    def weights(self, batch, scores):
        return scores.softmax(dim=1)


@register
class AblationCAM(_ForwardPerChannel):
    """Ablation-CAM (Desai & Ramaswamy 2020): each channel weighted by the class score's relative
    drop, (y - y_k) / y, when its map is set to zero in the CAM layer's output."""

    name, title = "ablationcam", "Ablation-CAM"

    def channel_scores(self, batch, activation, images, channels):
        import functools

        from reportgen.attribution import cam
        from reportgen.models.hooks import replaced_output

        view = batch.settings.cam_view or (lambda tensor: tensor)
        with replaced_output(batch.module, batch.settings.cam_layer,
                             functools.partial(cam.ablated, view=view, channels=channels)):
            return _class_scores(batch, batch.module(batch.inputs[images]), images)

    def weights(self, batch, scores):
        from reportgen.attribution import cam

        original = batch.shared.logits.gather(1, batch.shared.targets[:, None]).to(scores.dtype)
        return cam.divided(original - scores, original)
