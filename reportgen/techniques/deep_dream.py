"""Deep Dream: gradient ascent on a real photo, so that what a layer sees in it grows stronger.

Four variants: the objective is one channel of a layer or the whole layer, and the method is
``simple`` (Adam on the image at its working size, loss = mean activation) or ``octaves`` (an
image pyramid dreamed from coarse to fine, the detail carried up each octave, loss = L2 norm).
Both methods walk one pyramid, ``optim.dream.dream_pyramid``, whose every octave is the ascent loop of
optim/ascent.py: a photo parameterisation, a roll transform, the layer's activation as objective,
and an optimiser; ``simple`` is a pyramid of one octave, without roll, whose optimiser is Adam.

The octave method follows the classic DeepDream recipe, because each part removes a failure of
plain gradient steps: the image is rolled by a random offset before every step (the network's
stride grid would otherwise print itself on the picture as a fine checkerboard); the gradient is
smoothed by Gaussians of several widths and normalised by its standard deviation (a raw gradient
is mostly pixel-level noise, and its scale varies by orders of magnitude between layers and
images); and the pyramid has as many octaves as the image allows, so large patterns form at the
coarse octaves and are refined, not replaced, at the fine ones. Pixels stay in the valid range
after every step, and images are RGB, normalised by the model's own mean and std. The result is
resized back to the input's exact size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeAlias

import numpy as np

from reportgen.pictures import render
from reportgen.core.lazy import torch
from reportgen.core.choices import ACTIVATIONS, ParamError, check_choices
from reportgen.core.ascent_meta import DeepDreamMeta, DreamRoles
from reportgen.techniques import deep_dream_view
from reportgen.techniques.base import NO_CONTEXT, Context, Request, Result, Technique, register, not_keyed, request_of

if TYPE_CHECKING:  # imported for annotations only: planning must stay torch-free
    from reportgen.models import LoadedModel
    from reportgen.core.progress import Progress

OBJECTIVES = ("one_channel", "all_channels")
METHODS = ("simple", "octaves")
# Default layers, chosen by looking at dreams: VGG19's is the classic scripts' `features[34]`;
# EfficientNet-Lite's are the last block of its fifth stage (blocks.4), whose dreams show parts a
# person can name (eyes, dog and cat faces); the sixth stage's (blocks.5) give eyes less often
# and more patterned texture, at a higher cost.
DREAM_LAYERS = {"vgg19": "features.34", "efficientnet_lite0": "blocks.4.2", "efficientnet_lite2": "blocks.4.3"}
DEFAULT_FILTER = 45  # the classic scripts' filter (the last channel if a layer has fewer)
DEEP_FRACTION = 2 / 3  # default layer for other models: a block about this deep
MIN_LAYER_SIDE = 7  # ... whose output is still at least this many px a side at the input size
NOT_BLOCKS = ("Sequential", "ModuleList", "ModuleDict", *ACTIVATIONS)


@dataclass(frozen=True)
class Params:
    layer: str | None = None  # dotted module name; None = DREAM_LAYERS, else a block ~2/3 deep
    filter: int | None = None  # channel of one_channel; None = 45 (the last channel if fewer)
    objectives: tuple[str, ...] = OBJECTIVES
    methods: tuple[str, ...] = METHODS
    working_side: int | None = 320  # longer side the dream runs at (at most the input's); None = own size
    steps: int = 25  # simple: Adam steps
    learning_rate: float = 0.1  # simple: Adam learning rate, on the normalised image
    weight_decay: float = 1e-6  # simple: Adam weight decay (an L2 pull towards the mean colour)
    octaves: int = 12  # octaves: pyramid levels, fewer when the smallest would be too small
    octave_scale: float = 1.4
    octave_steps: int = 10  # octaves: gradient steps per octave
    step_size: float = 0.08  # octaves: step = step_size * smoothed gradient / its standard deviation
    min_octave_side: int = 32  # octaves: the smallest octave's shorter side is at least this
    jitter: int = 32  # octaves: random roll of up to this many px before each step
    smoothing: float = 1.0  # octaves: gradient blurred by Gaussians of 0.5, 1 and 2 x this sigma (px); 0: none
    gif: bool = False  # octaves: also an animation of the image after each octave
    seed: int = 0  # seeds the jitter
    # images of one working size dreamed together, up to this many px
    batch_pixels: int = not_keyed(1 << 19, "how many go through the model at once")
    # Seconds one image's dreams may take on one model (reportgen/core/budget.py): the working side
    # shrinks (not below the model's input size) until their counted cost fits; 0: no limit
    budget_s: float = not_keyed(20.0, "the working side it shrinks is keyed")


@dataclass(frozen=True, kw_only=True)
class Dream:
    """One image's dream, whatever the method: the layer and its channel (None: all channels), the
    objective, the working side (None: the image's own size) and the seed. Each method's type adds
    the fields that method reads, and no other's."""

    method: str = field(default="", init=False)  # each method's type sets its own
    layer: str
    filter: int | None = None
    objective: str
    working_side: int | None = None
    seed: int


@dataclass(frozen=True, kw_only=True)
class SimpleDream(Dream):
    method: str = field(default="simple", init=False)
    steps: int
    learning_rate: float
    weight_decay: float


@dataclass(frozen=True, kw_only=True)
class OctaveDream(Dream):
    method: str = field(default="octaves", init=False)
    octaves: int
    octave_scale: float
    octave_steps: int
    step_size: float
    min_octave_side: int
    jitter: int
    smoothing: float
    gif: bool


DREAMS: dict[str, type[SimpleDream] | type[OctaveDream]] = {"simple": SimpleDream, "octaves": OctaveDream}  # by METHODS


@dataclass(frozen=True)
class Schedule:
    """How one method walks the pyramid: its sizes, and what each octave's ascent loop runs."""

    sizes: list[tuple[int, int]]  # (height, width) per octave, coarse to fine
    steps: int  # per octave
    reduction: str  # "mean" or "norm" of the chosen channels (optim.objectives.layer_activation)
    optimiser: Callable[[list], Any]  # the image's parameters -> a fresh torch optimiser, one per octave
    jitter: int  # px of the roll before each step
    seed: int


@register
class DeepDream(Technique):
    """A photo dreamed on, per (image, objective, method).

    Params: ``layer`` and ``filter`` (None: defaults per model), ``objectives`` (one_channel,
    all_channels), ``methods`` (simple, octaves), ``working_side``; the simple method's ``steps``,
    ``learning_rate``, ``weight_decay``; the octave method's ``octaves``, ``octave_scale``,
    ``octave_steps``, ``step_size``, ``min_octave_side``, ``jitter``, ``smoothing``, ``gif``;
    ``seed``, ``batch_pixels``. Each method's request type (``SimpleDream``, ``OctaveDream``) holds only its fields.
    Meta: ``DeepDreamMeta``: ``layer``, ``filter`` (None: all channels), ``method``, ``objective``,
    ``reduction``, ``working_size`` (width, height), ``octaves``, ``steps``, and the objective
    before and after (``objective_before``, ``objective_after``).
    Roles: ``dream`` (picture), ``octaves`` (animation, when ``gif``), ``objective`` (raw array).
    """
    name = "deep_dream"
    title = "Deep Dream"
    classic = "Mordvintsev, Olah & Tyka 2015, \u201cInceptionism: going deeper into neural networks\u201d (DeepDream)"
    description = (
        "Gradient ascent on a real photo: the image is changed so that a deep layer (one filter, "
        "or the whole layer) responds more strongly, and what the layer looks for appears in it. "
        "The simple method climbs at one scale; the octave method dreams an image pyramid from "
        "coarse to fine, which gives larger, cleaner patterns."
    )
    version = 3  # 3: octaves with jitter, smoothed and normalised gradient steps; default layers by model
    Params: TypeAlias = Params  # an alias, so that the methods' annotations can name it
    Meta = DeepDreamMeta
    Roles = DreamRoles
    presets = {
        "quick": {"working_side": 64, "steps": 4, "octaves": 3, "octave_steps": 2, "min_octave_side": 16, "jitter": 4,
                  "budget_s": 0.0},
        "full": {"working_side": None, "steps": 200, "octave_steps": 20, "step_size": 0.05, "budget_s": 0.0},
    }

    optimises = True

    def default_layers(self, params, card):
        return [self.layer_for(params, card)]

    def view(self, manifest, artifacts):
        return deep_dream_view.view(manifest, artifacts)

    def variant_title(self, artifact):
        return f"{deep_dream_view.DREAM_METHODS[artifact.meta.method][0]}, {deep_dream_view.DREAM_OBJECTIVES[artifact.meta.objective]}"

    def caption(self, artifact):
        return deep_dream_view.objective_change(artifact.meta)

    def layer_for(self, params: Params, card) -> str:
        if params.layer:
            return params.layer
        return DREAM_LAYERS.get(card.name) or deep_layer(card)

    def filter_for(self, params: Params, channels: int) -> int:
        return params.filter if params.filter is not None else min(DEFAULT_FILTER, channels - 1)

    def plan(self, params, card, images, context=NO_CONTEXT):
        check_choices("deep_dream objective", params.objectives, OBJECTIVES)
        check_choices("deep_dream method", params.methods, METHODS)
        layer = self.layer_for(params, card)
        channels = card.layer(layer).channels
        if not channels:
            raise ParamError(f"{card.name} layer {layer!r} has no feature maps to dream on")
        chosen_filter = self.filter_for(params, channels)
        if not 0 <= chosen_filter < channels:
            raise ParamError(f"filter {chosen_filter} is out of range for {card.name} {layer} (0..{channels - 1})")
        requests = []
        for image in images:
            side = sized_side(params, card, image.size[::-1])
            for method in params.methods:
                for objective in params.objectives:
                    dream = request_of(DREAMS[method], params, objective=objective, layer=layer, working_side=side,
                                       filter=chosen_filter if objective == "one_channel" else None)
                    requests.append(Request(f"{method}/{objective}", dream, image,
                                            animated=isinstance(dream, OctaveDream) and dream.gif))
        return requests

    def gflop(self, params, card, requests):
        return sum(dream_gflop(r.args, card, r.args.method, working_size(r.image.size[::-1], r.args.working_side))
                   for r in requests)

    def compute(self, params: Params, model: LoadedModel, requests: list[Request], progress: Progress,
                context: Context = NO_CONTEXT) -> Iterator[tuple[Request, Result]]:
        groups: dict[tuple[str, tuple[int, int]], list[Request]] = {}
        for request in requests:
            assert request.image is not None, "deep dream plans a request per image"
            size = model.card.fit_size(*working_size(request.image.size[::-1], request.args.working_side))
            groups.setdefault((request.args.method, size), []).append(request)
        chunks = []
        for (_, size), group in groups.items():
            schedule = schedule_for(group[0].args, size, model.card)
            per_batch = max(1, params.batch_pixels // (size[0] * size[1]))
            chunks += [(schedule, size, group[start : start + per_batch]) for start in range(0, len(group), per_batch)]
        total = sum(len(schedule.sizes) * schedule.steps for schedule, _, _ in chunks)
        done = 0

        def tick(steps: int) -> None:
            nonlocal done
            done += steps
            progress.tick(done, total)

        for schedule, size, chunk in chunks:
            yield from _dream_chunk(model, chunk, size, schedule, tick)


def sized_side(params: Params, card, shape: tuple[int, int]) -> int | None:
    """The working side of an image of ``shape`` (height, width): ``params.working_side``, or
    smaller where the dreams' counted cost passes ``budget_s`` (pixels go as the side squared), never
    below the model's input size: its units expect objects at the scale they were trained on."""
    from reportgen.core.budget import share

    if params.working_side is None:
        return None
    size = working_size(shape, params.working_side)
    gflop = len(params.objectives) * sum(dream_gflop(params, card, method, size) for method in params.methods)
    fraction = share(params.budget_s, gflop)
    if fraction == 1.0:
        return params.working_side
    return min(params.working_side, max(card.input_size, round(params.working_side * math.sqrt(fraction))))


def dream_gflop(settings: Any, card, method: str, size: tuple[int, int]) -> float:
    """The counted GFLOP of one dream by ``method`` at working ``size`` (height, width): a forward
    and the input's backward per step, scaled by the pixels of each step's picture. ``settings``: the
    Params, or the request of one dream (either holds the method's step counts and octaves)."""
    from reportgen.core.budget import BACKWARD

    if method == "simple":
        pixels = settings.steps * size[0] * size[1]
    else:
        octaves = octave_sizes(size, settings.octaves, settings.octave_scale, max(settings.min_octave_side, card.min_size))
        pixels = settings.octave_steps * sum(height * width for height, width in octaves)
    return pixels * BACKWARD * card.gflops / card.input_size ** 2


def deep_layer(card) -> str:
    """A layer about 2/3 deep whose output is still >= 7 px a side. Outermost blocks (modules with
    children that are not plain containers: residual blocks, inverted residuals, dense blocks,
    inception modules) if the model has them, else activations (VGG, AlexNet)."""
    names = [info.name for info in card.layers]

    def has_children(name: str) -> bool:
        return any(other.startswith(name + ".") for other in names)

    roomy = [info for info in card.feature_layers() if min(info.spatial) >= MIN_LAYER_SIDE] or card.feature_layers()
    blocks = [info.name for info in roomy if has_children(info.name) and info.type not in NOT_BLOCKS]
    blocks = [name for name in blocks if not any(name.startswith(outer + ".") for outer in blocks)]
    activations = [info.name for info in roomy if info.type in ACTIVATIONS]
    candidates = blocks or activations or [info.name for info in roomy]
    return candidates[round(DEEP_FRACTION * (len(candidates) - 1))]


def working_size(shape: tuple[int, int], side: int | None) -> tuple[int, int]:
    """(height, width) with the longer side ``side``, the aspect ratio kept. Never enlarged: an
    upscaled dream would be mostly lost again when the result is resized back to the input."""
    height, width = shape
    if side is None or side >= max(height, width):
        return height, width
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def octave_sizes(size: tuple[int, int], octaves: int, scale: float, min_side: int) -> list[tuple[int, int]]:
    """Pyramid sizes, coarse to fine, as many as asked but none with a shorter side < ``min_side``."""
    fit = 1 + math.floor(math.log(min(size) / min_side) / math.log(scale)) if min(size) >= min_side else 1
    count = max(1, min(octaves, fit))
    return [(max(1, round(size[0] / scale**k)), max(1, round(size[1] / scale**k))) for k in reversed(range(count))]


def schedule_for(dream: Dream, size: tuple[int, int], card: Any) -> Schedule:
    """The method's pyramid and steps; every octave at a size the model accepts (its card's probed
    minimum, multiple or fixed size: a fixed-size model dreams all its octaves at that size)."""
    from reportgen.optim.optimisers import SmoothedStep

    if isinstance(dream, SimpleDream):
        adam = partial(torch.optim.Adam, lr=dream.learning_rate, weight_decay=dream.weight_decay)
        return Schedule([size], dream.steps, "mean", adam, 0, dream.seed)
    assert isinstance(dream, OctaveDream)
    pyramid = octave_sizes(size, dream.octaves, dream.octave_scale, max(dream.min_octave_side, card.min_size))
    sizes = list(dict.fromkeys(card.fit_size(*octave) for octave in pyramid))
    smoothed = partial(SmoothedStep, step_size=dream.step_size, smoothing=dream.smoothing, steps=dream.octave_steps)
    return Schedule(sizes, dream.octave_steps, "norm", smoothed, dream.jitter, dream.seed)


def _dream_chunk(model, chunk, size, schedule, tick):
    """Dream a batch of same-size images; yield each request with its Result."""
    layer = chunk[0].args.layer
    channels = [request.args.filter for request in chunk]
    score = dream_score(model, layer, channels, schedule.reduction)
    base = model.to_tensor([request.image.pixels for request in chunk], size)
    from reportgen.optim.dream import dream_pyramid

    dreamed, frames, trace = dream_pyramid(model, base, score, schedule, tick)
    with torch.inference_mode():
        before = score(model.normalise(base))["score"]
        after = score(dreamed)["score"]
    for index, request in enumerate(chunk):
        height, width = request.image.pixels.shape[:2]
        picture = _picture(model, dreamed[index : index + 1], (height, width))
        result = Result(
            arrays={DreamRoles.OBJECTIVE: trace[:, index].astype(np.float32)},
            images={DreamRoles.DREAM: picture},
            meta=DeepDreamMeta(
                layer=layer, filter=channels[index], method=request.args.method,
                objective=request.args.objective, reduction=schedule.reduction,
                working_size=(size[1], size[0]), octaves=len(schedule.sizes),
                steps=len(schedule.sizes) * schedule.steps,
                objective_before=float(before[index]), objective_after=float(after[index]),
            ),
        )
        if isinstance(request.args, OctaveDream) and request.args.gif:
            result.animations[DreamRoles.OCTAVES] = [_picture(model, frame[index : index + 1], (height, width)) for frame in frames]
        yield request, result


def dream_score(model, layer: str, channels, reduction: str):
    """Per image: the mean or L2 norm of ``layer``'s output, over its channel or (None) all of them."""
    from reportgen.optim.objectives import layer_activation

    return layer_activation(model.for_gradients([layer]), [layer] * len(channels), channels, reduction,
                            model.layer_maps)


def _picture(model, normalised, size: tuple[int, int]) -> np.ndarray:
    """A normalised 1xCxhxw image -> uint8 HxWx3 at ``size`` (the input's own size)."""
    from reportgen.optim.dream import resized

    with torch.inference_mode():
        pixels = resized(model.denormalise(normalised).clamp(0, 1), size)[0]
    return render.to_uint8(pixels.permute(1, 2, 0).float().cpu().numpy())
