"""One object per saliency method, as pytorch-grad-cam's ``BaseCAM``: the shared loop
(``attribution.maps.compute``) runs one forward pass and one backward per gradient rule, then asks
each method for its map; a method overrides ``attribute`` and declares the rest as class
attributes. Adding a method is one subclass: registered with ``@register`` (here, or in a module
of one's own), or named by another package's ``reportgen.saliency_methods`` entry point
(``reportgen.interface.plugins``).

A method holds what every reader needs: its ``name`` (the artifact's variant and the
``saliency.methods`` choice), ``title`` (the page's row), ``renderings`` (the pictures it
publishes and their labels), ``key_fields`` (the Params fields its artifacts depend on beyond the
shared ones, so that changing another method's setting keeps its cache entries), the gradient
``rules`` and Grad-CAM map it reads from the shared pass, and how its result is stored
(``files``). Importing this module does not import torch: the site reads titles and renderings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from reportgen.pictures import render
from reportgen.core.choices import check_choices
from reportgen.core.meta import SaliencyRoles as Roles

COLOUR_AND_GRAY = ((Roles.COLOUR, "colour"), (Roles.GRAY, "gray"))


@dataclass(frozen=True)
class Batch:
    """What a method computes from: the network, its inputs (normalised N x C x H x W), the shared
    pass (``gradients.SharedPass``: logits, targets, one gradient per rule), the raw Grad-CAM map
    (N x h x w, or None), and the settings, baseline and per-image noise seeds."""

    module: Any
    inputs: Any
    shared: Any
    cam: Any
    settings: Any
    baseline: Any
    noise_seeds: Sequence[int]


class SaliencyMethod:
    name: ClassVar[str]
    title: ClassVar[str]
    renderings: ClassVar[tuple[tuple[str, str], ...]] = COLOUR_AND_GRAY  # (role, label), in the page's order
    key_fields: ClassVar[tuple[str, ...]] = ()
    rules: ClassVar[tuple[str, ...]] = ()  # gradient rules it reads from the shared pass
    uses_cam: ClassVar[bool] = False  # reads the CAM layer's activation and gradient (needs a CAM layer)
    # Adebayo et al. 2018 found its maps nearly unchanged when the model's weights are randomised.
    fails_randomisation: ClassVar[bool] = False
    # Weights the CAM layer's channels by their spatially averaged gradient, which a model's head
    # can make unreliable (``SaliencyMeta.cam_note``): its page shows the note.
    averages_cam_gradient: ClassVar[bool] = False

    def unsupported(self, card: Any) -> str | None:
        """Why the model (its card) cannot have this map, for a plan-time skip; None: it can."""
        return None

    @property
    def depends_on_rules(self) -> bool:
        """Whether an activation the ReLU rule could not reach changes its map."""
        return bool(self.rules)

    @property
    def modifies_relus(self) -> bool:
        """Whether it reads a rule that changes how ReLUs pass gradients (vanilla's does not)."""
        return any(rule != "vanilla" for rule in self.rules)

    def attribute(self, batch: Batch) -> Any:
        """The method's map, N x C x H x W (C may be 1)."""
        raise NotImplementedError

    def facts(self, batch: Batch, attribution: Any) -> list[dict[str, Any]]:
        """Per image, what the method reports beyond the shared meta (``SaliencyMeta`` fields)."""
        return [{} for _ in range(len(batch.inputs))]

    def files(self, attribution: np.ndarray, cam: np.ndarray | None, photo: np.ndarray,
              display: tuple[int, int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(raw arrays, pictures) of one image: ``attribution`` C x H x W, ``cam`` h x w, ``photo``
        the input at ``display`` size."""
        return ({Roles.ATTRIBUTION: attribution.astype(np.float32)},
                {Roles.COLOUR: render.resize(colour_picture(attribution), display),
                 Roles.GRAY: render.resize(gray_picture(attribution), display)})


METHODS: dict[str, SaliencyMethod] = {}


def register(cls: type[SaliencyMethod]) -> type[SaliencyMethod]:
    """Class decorator: a method's row on the page follows the order of registration."""
    if cls.name in METHODS:
        raise ValueError(f"saliency method {cls.name!r} registered twice")
    METHODS[cls.name] = cls()
    return cls


def every_name() -> tuple[str, ...]:
    """Every registered method, in the registry's order: the default of ``saliency.methods`` and
    ``faithfulness.methods``, read when their Params are made, so that a method registered after
    reportgen's own (by a plugin or a test module) is among them."""
    return tuple(METHODS)


def chosen(names: Sequence[str]) -> list[SaliencyMethod]:
    """The methods named, in the registry's order; an unknown name is a ChoiceError."""
    check_choices("saliency methods", names, METHODS)
    return [method for name, method in METHODS.items() if name in names]


class _GradientRule(SaliencyMethod):
    """A method that is one gradient rule's input gradient (how ReLUs pass gradients back)."""

    def attribute(self, batch):
        return batch.shared.gradients[self.rules[0]]


@register
class Vanilla(_GradientRule):
    name, title, rules = "vanilla", "Vanilla backpropagation", ("vanilla",)


@register
class DeconvNet(_GradientRule):
    name, title, rules, fails_randomisation = "deconvnet", "DeconvNet", ("deconvnet",), True


@register
class Guided(_GradientRule):
    name, title, rules, fails_randomisation = "guided", "Guided backpropagation", ("guided",), True


@register
class GradCAM(SaliencyMethod):
    """Grad-CAM (Selvaraju et al. 2017): the CAM layer's channels weighted by their mean gradient.
    Published as a heat map over the image; its raw map is kept at the layer's resolution."""

    name, title, uses_cam, key_fields = "gradcam", "Grad-CAM", True, ("cam_layer",)
    renderings = ((Roles.OVERLAY, "heat map"),)
    averages_cam_gradient = True

    def attribute(self, batch):
        from reportgen.attribution import cam

        return cam.upsample(batch.cam, tuple(batch.inputs.shape[2:]))[:, None]

    def files(self, attribution, cam, photo, display):
        heat = cam / cam.max() if cam.max() > 0 else np.zeros_like(cam)
        return {Roles.CAM: cam}, {Roles.OVERLAY: render.overlay(photo, heat)}


@register
class GuidedGradCAM(SaliencyMethod):
    """Guided backpropagation's detail masked by Grad-CAM's class-discriminative map."""

    name, title, uses_cam, key_fields, rules = "guided_gradcam", "Guided Grad-CAM", True, ("cam_layer",), ("guided",)
    fails_randomisation = True

    def attribute(self, batch):
        from reportgen.attribution import cam

        return cam.guided_grad_cam(batch.shared.gradients["guided"], batch.cam)


@register
class SmoothGrad(SaliencyMethod):
    """Vanilla gradients averaged over seeded noisy copies of the input (Smilkov et al. 2017)."""

    name, title = "smoothgrad", "SmoothGrad"
    key_fields = ("smoothgrad_samples", "smoothgrad_noise", "seed")

    def attribute(self, batch):
        from reportgen.attribution import paths

        inputs, settings = batch.inputs, batch.settings
        spread = paths.noise_spread(inputs, settings.smoothgrad_noise)
        noise = paths.smoothgrad_noise(inputs, spread, settings.smoothgrad_samples, batch.noise_seeds)
        return paths.smoothgrad(batch.module, inputs, batch.shared.targets, noise, settings.batch_size)


@register
class IntegratedGradients(SaliencyMethod):
    """Gradients integrated along the straight path from a baseline image (Sundararajan et al.
    2017); reports its completeness gap (attributions' sum minus the score's change)."""

    name, title, key_fields = "integrated_gradients", "Integrated Gradients", ("ig_steps", "ig_baseline")

    def attribute(self, batch):
        from reportgen.attribution import paths

        return paths.integrated_gradients(batch.module, batch.inputs, batch.shared.targets, batch.baseline,
                                          batch.settings.ig_steps, batch.settings.batch_size)

    def facts(self, batch, attribution):
        from reportgen.attribution import paths

        gaps = paths.completeness_gap(batch.module, batch.inputs, batch.shared.targets, batch.baseline, attribution)
        return [{"ig_completeness_gap": round(float(gap), 6)} for gap in gaps]


class LayerMapCAM(SaliencyMethod):
    """A CAM made at the CAM layer's resolution from its activation and gradient, both read as
    N x K x h x w maps whatever the layer's layout (``Settings.cam_view``), then upsampled.
    Published as a heat map; its raw map is kept at the input's size."""

    uses_cam = True
    key_fields: ClassVar[tuple[str, ...]] = ("cam_layer",)
    renderings = ((Roles.OVERLAY, "heat map"),)

    def layer_map(self, batch: Batch, activation: Any, gradient: Any) -> Any:
        """N x h x w from the layer's N x K x h x w activation and gradient."""
        raise NotImplementedError

    def attribute(self, batch):
        from reportgen.attribution import cam

        view = batch.settings.cam_view or (lambda tensor: tensor)
        raw = self.layer_map(batch, view(batch.shared.activation), view(batch.shared.activation_gradient))
        return cam.upsample(raw, tuple(batch.inputs.shape[2:]))[:, None]

    def files(self, attribution, cam, photo, display):
        return heat_files(attribution, photo)


class _PositionalCAM(LayerMapCAM):
    """A CAM that weights each cell of the layer's map by its own gradient instead of the map's
    mean gradient, so a head that reads the map by position (not one global average) keeps where
    it looks."""

    def cam(self, activation: Any, gradient: Any) -> Any:
        raise NotImplementedError

    def layer_map(self, batch, activation, gradient):
        return self.cam(activation, gradient)


@register
class HiResCAM(_PositionalCAM):
    name, title = "hirescam", "HiResCAM"

    def cam(self, activation, gradient):
        from reportgen.attribution import cam

        return cam.hires_cam(activation, gradient)


@register
class LayerCAM(_PositionalCAM):
    name, title = "layercam", "LayerCAM"

    def cam(self, activation, gradient):
        from reportgen.attribution import cam

        return cam.layer_cam(activation, gradient)


ATTENTION_TYPES = ("MultiheadAttention", "Attention")  # torchvision's and timm's global self-attention


class _Rollout(SaliencyMethod):
    """How much the class token draws on each patch, composed over every attention layer
    (attribution/rollout.py). Only for global self-attention with a class token (ViT, DeiT)."""

    renderings = ((Roles.OVERLAY, "heat map"),)
    weighted: ClassVar[bool] = False

    def unsupported(self, card: Any) -> str | None:
        attentions = [info for info in card.layers if info.type in ATTENTION_TYPES]
        if not attentions:
            return "no global self-attention layer (windowed attention or none): rollout does not apply"
        counts: dict[str, int] = {}  # attention layer -> the tokens it attends over
        for info in attentions:
            sequence = _token_sequence(card, info)
            if sequence is None:
                return (f"attention layer {info.name} does not attend over one token grid of the image: rollout "
                        "composes one token sequence through every attention layer")
            prefix, (rows, columns) = sequence
            counts[info.name] = prefix + rows * columns
        if len(set(counts.values())) > 1:
            first_at: dict[int, str] = {}
            for name, count in counts.items():
                first_at.setdefault(count, name)
            shown = ", ".join(f"{count} at {name}" for count, name in first_at.items())
            return (f"its attention layers attend over different token counts ({shown}): rollout composes one "
                    "token sequence through every attention layer")
        return None

    def attribute(self, batch):
        from reportgen.attribution import cam, rollout
        from reportgen.models.hooks import attention_weights
        from reportgen.core.lazy import torch

        inputs = batch.inputs.detach().clone().requires_grad_(self.weighted)
        with attention_weights(batch.module) as captured, torch.set_grad_enabled(self.weighted):
            logits = batch.module(inputs)
            if self.weighted:
                logits.gather(1, batch.shared.targets[:, None]).sum().backward()
        prefix = getattr(batch.module, "num_prefix_tokens", 1)
        shares = rollout.gradient_rollout(captured, prefix) if self.weighted else rollout.rollout(captured, prefix)
        height, width = batch.inputs.shape[2:]
        rows = max(1, round((shares.shape[1] * height / width) ** 0.5))
        grid = rollout.patch_grid(shares, rows, shares.shape[1] // rows)
        return cam.upsample(grid.to(batch.inputs.dtype), (height, width))[:, None].detach()

    def files(self, attribution, cam, photo, display):
        return heat_files(attribution, photo)


@register
class AttentionRollout(_Rollout):
    name, title = "rollout", "Attention rollout"


@register
class GradientRollout(_Rollout):
    name, title, weighted = "gradient_rollout", "Gradient-weighted rollout", True


def _token_sequence(card: Any, attention: Any) -> tuple[int, tuple[int, int]] | None:
    """(prefix tokens, patch grid) an attention layer attends over, as the card reads its output or,
    where that is not a token map (torchvision's returns the weights too), its block's; None: no
    token grid of the image."""
    parent = attention.name.rpartition(".")[0]
    for info in (attention, *(i for i in card.layers if i.name == parent)):
        if info.layout == "tokens" and info.spatial:
            return info.prefix, info.spatial
    return None


def heat_files(attribution: np.ndarray, photo: np.ndarray,
               from_minimum: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A one-channel map at the input's size: kept raw, published as a heat map over the photo,
    scaled from 0 (negative values clipped), or ``from_minimum`` (a map whose every value shares
    one large offset) to its peak."""
    heat = attribution[0] - attribution[0].min() if from_minimum else attribution[0]
    peak = heat.max()
    return ({Roles.ATTRIBUTION: attribution.astype(np.float32)},
            {Roles.OVERLAY: render.overlay(photo, heat / peak if peak > 0 else np.zeros_like(heat))})


def colour_picture(attribution: np.ndarray) -> np.ndarray:
    """C x H x W -> the colour rendering: the whole gradient min-max scaled to RGB."""
    return render.to_uint8(render.minmax(render.chw_to_hwc(attribution)))


def gray_picture(attribution: np.ndarray) -> np.ndarray:
    """C x H x W -> the gray rendering: max |value| over channels, from its minimum to its
    99th percentile scaled to [0, 1] (brighter outliers clipped)."""
    magnitude = np.abs(attribution).max(axis=0)
    low, high = float(magnitude.min()), float(np.percentile(magnitude, 99))
    if high - low <= 0:
        return np.zeros(magnitude.shape, dtype=np.uint8)
    return render.to_uint8((magnitude - low) / (high - low))
