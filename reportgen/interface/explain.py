"""``reportgen.explain``: the gallery's saliency maps of one's own images, in one call, as arrays.

It runs the saliency technique's own path (``techniques.saliency``: the registered method objects
and the shared pass of ``attribution.maps``, on the batch-norm-folded network) with the technique's
Params, so a map equals the one a build stores for the same model, image and method. Nothing is
written: the model's card is made in memory. Importing it imports neither torch nor numpy:
``reportgen`` imports it with itself (``reportgen/__init__.py``).
"""
from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from reportgen.core.choices import ParamError
from reportgen.core.meta import SaliencyRoles

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from reportgen.models import LoadedModel, ModelCard

# What a normalised batch may hold beyond the range of a [0, 1] image: float rounding only.
RANGE_SLACK = 1e-3


@dataclass(frozen=True)
class ExplainedClass:
    """The class a map explains: its index and name, and the model's probability for it."""

    index: int
    name: str
    probability: float


@dataclass(frozen=True)
class Explanation:
    """What ``explain`` returns. ``maps``: method -> float32 array, N x C x H x W (C may be 1) at the
    input's size, or N x h x w for Grad-CAM (at its layer's resolution, as the gallery stores it).
    ``classes``: per image, the class explained. ``skipped``: methods left out of the default
    list, with why. ``pictures``: method -> role -> per image, the gallery's renderings."""

    model: str
    maps: Mapping[str, np.ndarray]
    classes: tuple[ExplainedClass, ...]
    cam_layer: str | None
    skipped: Mapping[str, str]
    pictures: Mapping[str, Mapping[str, tuple[np.ndarray, ...]]]

    def overlay(self, method: str, role: str | None = None) -> list["Image.Image"]:
        """The method's pictures, one per image, as the gallery shows them: a CAM's heat map over
        the image, a gradient's colour rendering (``role``: another of its renderings, e.g. "gray")."""
        from PIL import Image

        from reportgen.attribution.methods import METHODS
        from reportgen.core.choices import check_choice

        check_choice("method", method, self.pictures)
        rendered = self.pictures[method]
        role = check_choice(f"rendering of {method}", role or METHODS[method].renderings[0][0], rendered)
        return [Image.fromarray(picture) for picture in rendered[role]]


def explain(model: Any, images: Any, methods: str | Sequence[str] | None = None,
            target: int | str | Sequence[int | str] | None = None, layer: str | None = None, device: str = "cpu", *,
            input_size: int | None = None, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
            classes: Sequence[str] | None = None, weights: str = "pretrained", preset: str = "standard",
            params: Mapping[str, Any] | None = None, config: str | Path | None = None) -> Explanation:
    """Saliency maps of ``images`` by ``model``, as the gallery makes them.

    ``model``: a catalogue name (``weights``: pretrained or random), a model declared in ``config``
    (default: ./reportgen.toml), a ``reportgen.ModelSpec``, or a torch module (a timm model's input
    size, mean and std are read from its ``pretrained_cfg``; any other module needs ``input_size``,
    ``mean`` and ``std``; ``classes`` names its outputs). ``images``: paths, PIL images, uint8
    arrays (H x W x 3), or one normalised tensor batch (N x 3 x H x W). ``methods``: names (default:
    every method that applies to the model). ``target``: the class explained, one for all images
    or one per image (index or name; default: each image's top-1). ``layer``: the CAM layer
    (default: chosen as the gallery does). ``preset`` and ``params`` set saliency's Params.
    Raises ``ParamError`` (one line) for a bad argument or a method that does not apply.
    """
    from reportgen.core.global_state import kept_global_state
    from reportgen.models import load, prepare_device, select_device

    with _one_line():
        chosen_device = select_device(device)
    with kept_global_state(), _card(model, weights, input_size, mean, std, classes, config) as card:
        saliency, names, cam_layer, skipped = _methods(card, methods, layer, preset, params)
        prepare_device(chosen_device)
        loaded = load(card, chosen_device)
        batch = _Inputs.of(images, loaded)
        pinned = _targets(card, target, len(batch.hashes))
        return _explained(saliency, loaded, batch, pinned, names, cam_layer, skipped)


@contextlib.contextmanager
def _card(model: Any, weights: str, input_size, mean, std, classes, config) -> Iterator["ModelCard"]:
    """The model's card, made in memory; a module is known by name only while ``explain`` runs."""
    from reportgen.interface.config import settings_for
    from reportgen.models import card_for
    from reportgen.models.declared import ModelSpec, module_spec
    from reportgen.models.embedded import LOCAL, register_local
    from reportgen.core.lazy import torch

    if isinstance(model, str):
        with _one_line():
            settings_for(Path(config) if config is not None else None)  # its declared models, by name
            card = card_for(model, weights, None)
        yield card
        return
    if isinstance(model, torch.nn.Module):
        with _one_line():
            model = module_spec(model, "explain", "pass explain(model, images, {keywords})", input_size, mean, std,
                                classes)
    if not isinstance(model, ModelSpec):
        raise ParamError(f"explain: model is a {type(model).__name__}; expected a model name, a "
                         "reportgen.ModelSpec or a torch module")
    if not isinstance(model.module, torch.nn.Module):
        raise ParamError(f"explain: ModelSpec.module is a {type(model.module).__name__}, not a torch.nn.Module")
    name = type(model.module).__name__
    before = LOCAL.get(name)
    try:
        with _one_line():
            register_local(name, model.local_model(name))
            card = card_for(name, "pretrained", None)
        yield card
    finally:
        if before is None:
            LOCAL.pop(name, None)
        else:
            register_local(name, before)


@contextlib.contextmanager
def _one_line() -> Iterator[None]:
    """A model that cannot be used (``ModelError``) as the ``ParamError`` explain raises."""
    from reportgen.models import ModelError

    try:
        yield
    except ModelError as error:
        raise ParamError(str(error)) from None


def _methods(card: "ModelCard", methods, layer, preset, params):
    """Saliency's Params as ``preset`` and ``params`` set them, sized as a build sizes them; the
    methods to run, the CAM layer, and the default methods the model cannot have (method -> why).
    A method named that does not apply is a ParamError giving the reason."""
    from reportgen.attribution.methods import every_name
    from reportgen.core.choices import check_choice
    from reportgen.models import ModelError
    from reportgen.interface.overrides import typed_param
    from reportgen.techniques.base import PRESETS
    from reportgen.techniques.saliency import Params, Saliency, applicable
    from reportgen.techniques.saliency_params import sized

    check_choice("preset", preset, PRESETS)
    named = (methods,) if isinstance(methods, str) else tuple(methods) if methods is not None else None
    given = {"methods": named or every_name(), "cam_layer": layer or "", **dict(params or {})}
    values = {}
    for key, value in given.items():
        try:
            values[key] = typed_param(Params, key, value)
        except ParamError as error:
            raise ParamError(f"params[{key!r}]: {error}") from None
    saliency = Saliency().params_for(preset, values)
    try:
        chosen, cam_layer, reasons = applicable(saliency, card)
    except ModelError as error:
        raise ParamError(f"layer: {error}") from None
    if named is not None and reasons:
        method, reason = next(iter(reasons.items()))
        raise ParamError(f"method {method} does not apply to {card.name}: {reason}")
    return sized(saliency, card, chosen), [m.name for m in chosen], cam_layer, reasons


@dataclass(frozen=True)
class _Inputs:
    """The batch as the model takes it (normalised, N x 3 x H x W), with each image's identity
    (its SmoothGrad noise seed is drawn from it) and the picture its renderings are drawn over."""

    tensor: Any
    hashes: tuple[str, ...]
    photos: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, images: Any, model: "LoadedModel") -> "_Inputs":
        from reportgen.pictures.images import hash_pixels
        from reportgen.core.lazy import torch

        if isinstance(images, torch.Tensor):
            return cls._of_tensor(images, model)
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        if not items:
            raise ParamError("images: no image given")
        pixels = [_pixels(item, f"images[{index}]") for index, item in enumerate(items)]
        return cls(model.inputs(pixels), tuple(hash_pixels(p) for p in pixels), tuple(pixels))

    @classmethod
    def _of_tensor(cls, batch: Any, model: "LoadedModel") -> "_Inputs":
        from reportgen.core.lazy import torch

        card = model.card
        if batch.dim() != 4 or batch.shape[1] != 3 or not batch.is_floating_point() or not batch.shape[0]:
            raise ParamError(f"images: a float tensor of N x 3 x H x W is expected, not {batch.dtype} "
                             f"{' x '.join(map(str, batch.shape))}")
        height, width = batch.shape[2:]
        if not card.accepts(height, width):
            raise ParamError(f"images: {card.name} takes inputs {card.constraints}, not {height} x {width} "
                             f"(e.g. {' x '.join(map(str, card.fit_size(height, width)))})")
        batch = batch.detach().to(model.device, torch.float32)
        low, high = model.normalise(torch.zeros(1, 3, 1, 1)), model.normalise(torch.ones(1, 3, 1, 1))
        slack = RANGE_SLACK * (high - low)
        outside = (batch < (low - slack).to(batch.device)) | (batch > (high + slack).to(batch.device))
        if not torch.isfinite(batch).all() or outside.any():
            ranges = ", ".join(f"[{a:.3g}, {b:.3g}]" for a, b in zip(low.flatten().tolist(), high.flatten().tolist()))
            raise ParamError(f"images: a batch normalised with {card.name}'s mean and std is expected, each channel "
                             f"within {ranges} (a [0, 1] image's range); this one holds values in "
                             f"[{batch.min().item():.3g}, {batch.max().item():.3g}]")
        photos = (model.denormalise(batch).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        hashes = tuple(hashlib.sha256(image.cpu().numpy().tobytes()).hexdigest() for image in batch)
        return cls(batch, hashes, tuple(photos))


def _pixels(item: Any, where: str) -> np.ndarray:
    """One image as uint8 H x W x 3, upright and size-capped as a build loads its files."""
    import numpy as np
    from PIL import Image

    from reportgen.pictures.images import MAX_SIDE, MIN_SIDE, Skipped, cap_size, decode, upright_rgb

    if isinstance(item, (str, Path)):
        decoded = decode(Path(item), str(item))
        if isinstance(decoded, Skipped):
            raise ParamError(f"{where}: {decoded.name}: {decoded.reason}")
        return decoded
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or not (item.ndim == 2 or item.ndim == 3 and item.shape[2] in (3, 4)):
            raise ParamError(f"{where}: an array of uint8 pixels, H x W x 3 (or H x W, or H x W x 4), is expected, "
                             f"not {item.dtype} {' x '.join(map(str, item.shape))}; a normalised batch goes in "
                             "as one torch tensor")
        item = Image.fromarray(item)
    if not isinstance(item, Image.Image):
        raise ParamError(f"{where}: a {type(item).__name__}; expected a path, a PIL image or a uint8 array "
                         "(or one normalised tensor batch for all)")
    if min(item.size) < MIN_SIDE:
        raise ParamError(f"{where}: too small ({item.size[0]}x{item.size[1]}; at least {MIN_SIDE} px a side)")
    return np.asarray(cap_size(upright_rgb(item), MAX_SIDE), dtype=np.uint8)


def _targets(card: "ModelCard", target: Any, count: int) -> list[int | None]:
    """The class pinned for each image (None: its top-1), by index or name."""
    from reportgen.models import ModelError

    given = list(target) if isinstance(target, (list, tuple)) else [target] * count
    if len(given) != count:
        raise ParamError(f"target: {len(given)} classes for {count} images")
    try:
        return [None if value is None else card.class_index(value) for value in given]
    except ModelError as error:
        raise ParamError(f"target: {error}") from None


def _explained(saliency, model: "LoadedModel", batch: _Inputs, pinned: list[int | None], names: list[str],
               cam_layer: str | None, skipped: Mapping[str, str]) -> Explanation:
    """Every method's maps, batch by batch as the saliency technique computes them, and their
    renderings; a method that raises is raised here."""
    import numpy as np

    from reportgen.pictures import render
    from reportgen.attribution.methods import METHODS
    from reportgen.techniques.saliency import _noise_seed, compute_maps, display_size, maps_settings, method_files

    settings = maps_settings(saliency, model, cam_layer)
    raw: dict[str, list[np.ndarray]] = {name: [] for name in names}
    pictures: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in names}
    classes = []
    for start in range(0, len(batch.hashes), settings.batch_size):
        rows = range(start, min(start + settings.batch_size, len(batch.hashes)))
        seeds = [_noise_seed(saliency.seed, batch.hashes[row]) for row in rows]
        maps = compute_maps(saliency, model, settings, batch.tensor[rows.start:rows.stop],
                            pinned[rows.start:rows.stop], names, seeds)
        if maps.failures:
            raise next(iter(maps.failures.values()))
        probabilities = maps.logits.softmax(dim=1)
        for index, row in enumerate(rows):
            target = int(maps.targets[index])
            classes.append(ExplainedClass(target, model.card.category(target), float(probabilities[index, target])))
            photo = batch.photos[row]
            display = display_size(photo.shape[:2])
            photo = render.resize(np.ascontiguousarray(photo), display)
            for name in names:
                arrays, rendered = method_files(METHODS[name], maps, index, photo, display)
                raw[name].append(arrays.get(SaliencyRoles.CAM, arrays.get(SaliencyRoles.ATTRIBUTION)))
                for role, picture in rendered.items():
                    pictures[name].setdefault(role, []).append(picture)
    return Explanation(
        model=model.card.name, maps={name: np.stack(arrays).astype(np.float32) for name, arrays in raw.items()},
        classes=tuple(classes), cam_layer=cam_layer, skipped=dict(skipped),
        pictures={name: {role: tuple(p) for role, p in roles.items()} for name, roles in pictures.items()})
