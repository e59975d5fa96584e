"""A card made runnable: ``load`` builds the model, loads its weights, freezes it and moves it to the
device; ``LoadedModel`` adds the preprocessing and the batch-norm-folded network for gradient loops."""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from reportgen.core.lazy import F, torch
from reportgen.models.card import RANDOM_SEED, ModelCard
from reportgen.models import timm_models
from reportgen.models.embedded import LOCAL


@dataclass
class LoadedModel:
    """A frozen model ready for techniques, with the preprocessing its card describes."""

    card: ModelCard
    module: torch.nn.Module
    device: torch.device
    _folded: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def for_gradients(self, keep: Sequence[str] = ()) -> torch.nn.Module:
        """The network for gradient loops: ``module`` with its batch norms folded into their
        convolutions (reportgen/models/folding.py), except the convolutions named in ``keep``, whose
        outputs a technique observes; on a CPU, with its weights channels-last, which makes oneDNN
        run the whole network channels-last (faster: benchmarks/README.md). Made once per set of
        kept convolutions that would otherwise be folded: a network without batch norms (VGG) has
        one copy whatever ``keep`` is. ``release`` frees them."""
        from reportgen.models.folding import conv_norm_pairs, fold_batch_norms

        if "pairs" not in self._folded:
            self._folded["pairs"] = {conv for conv, _ in conv_norm_pairs(self.module, self.sample_input())[0]}
        key = frozenset(keep) & self._folded["pairs"]
        if key not in self._folded:
            network = fold_batch_norms(self.module, self.sample_input(), key)
            if self.device.type == "cpu":
                network = (copy.deepcopy(network) if network is self.module else network).to(
                    memory_format=torch.channels_last)
            self._folded[key] = network
        return self._folded[key]

    def release(self) -> None:
        """Forget the folded networks (a copy of the weights each): between techniques, so that
        a large model's copies do not pile up; the next gradient loop folds again."""
        self._folded.clear()

    def layer_maps(self, name: str, output: torch.Tensor, input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Layer ``name``'s output (or its gradient) as N x C x H x W, whatever the layer's layout
        (models/layout.py): channels-last and token layers converted, channels-first as it is.
        ``input_size``: the (height, width) of the input that made it, when not the model's own."""
        from reportgen.models.layout import to_maps

        return to_maps(output, self.card.layer(name), input_size)

    def sample_input(self) -> torch.Tensor:
        """A seeded random input of the model's size, for checks that need one forward pass."""
        generator = torch.Generator().manual_seed(RANDOM_SEED)
        size = self.card.input_size
        return torch.randn((1, 3, size, size), generator=generator).to(self.device)

    def features(self, inputs: torch.Tensor) -> np.ndarray:
        """How the network describes each input just before it classifies: the input of the last
        linear layer it runs (its pooled penultimate features), or its output if it runs none.
        Regression checks compare optimised pictures by these (regress/outcome.py): runs that end at other
        optima under other CPU kernels still show the network the same kind of thing."""
        return self.codes(inputs)[0]

    def codes(self, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, bool]:
        """``features`` of each input, the model's output (its logits) from the same forward, and
        whether the features are a head's input (False: the model runs no linear layer)."""
        from reportgen.models.hooks import last_call_input

        head_input, output = last_call_input(self.module, inputs, (torch.nn.Linear,))
        features = output if head_input is None else head_input
        return features.flatten(1).float().cpu().numpy(), output.float().cpu().numpy(), head_input is not None

    def normalise(self, pixels01: torch.Tensor) -> torch.Tensor:
        """NCHW tensor in [0, 1] -> the model's normalised input."""
        mean = torch.tensor(self.card.mean, device=pixels01.device).view(1, 3, 1, 1)
        std = torch.tensor(self.card.std, device=pixels01.device).view(1, 3, 1, 1)
        return (pixels01 - mean) / std

    def denormalise(self, tensor: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.card.mean, device=tensor.device).view(1, 3, 1, 1)
        std = torch.tensor(self.card.std, device=tensor.device).view(1, 3, 1, 1)
        return tensor * std + mean

    def to_tensor(self, pixels: Sequence[np.ndarray], size: tuple[int, int] | int | None = None) -> torch.Tensor:
        """uint8 HxWx3 images -> NCHW float tensor in [0, 1] on the device, the whole image resized
        (no crop) to ``size`` = (height, width), or square at the model's input size by default."""
        if size is None:
            size = self.card.input_size
        if isinstance(size, int):
            size = (size, size)
        batch = []
        for image in pixels:
            tensor = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)
            tensor = F.interpolate(tensor[None], size=size, mode="bilinear", align_corners=False, antialias=True)
            batch.append(tensor.clamp(0, 1))
        return torch.cat(batch).to(self.device)

    def inputs(self, pixels: Sequence[np.ndarray], size: tuple[int, int] | int | None = None) -> torch.Tensor:
        """uint8 images -> normalised model input, whole image resized."""
        return self.normalise(self.to_tensor(pixels, size))


def load(card: ModelCard, device: str = "cpu") -> LoadedModel:
    """Build the model, load its weights (real loading path), freeze it and move it to ``device``."""
    timm_models.ensure(card.name)
    torch.manual_seed(RANDOM_SEED)
    if card.name in LOCAL:
        local = LOCAL[card.name]
        net = local.build()
        if card.weights == "pretrained" and local.load_weights is not None:
            local.load_weights(net)
    else:
        net = _load_torchvision(card)
    if card.weights == "random":
        _redraw_zero_weights(net)
    net.eval()
    net.requires_grad_(False)
    return LoadedModel(card=card, module=net.to(device), device=torch.device(device))


def _redraw_zero_weights(net: torch.nn.Module) -> None:
    """Untrained weights that start at zero (ViT's classification head) are redrawn small and
    seeded: a zero head makes every logit constant, so every gradient, and every gradient picture
    of an untrained gallery, would be blank. Zero biases stay as they are."""
    generator = torch.Generator().manual_seed(RANDOM_SEED)
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.dim() >= 2 and not parameter.any():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)


def _load_torchvision(card: ModelCard) -> torch.nn.Module:
    import torchvision

    from reportgen.models.weights import pretrained_torchvision

    if card.weights == "random":
        return torchvision.models.get_model(card.name, weights=None)
    return pretrained_torchvision(card.name)
