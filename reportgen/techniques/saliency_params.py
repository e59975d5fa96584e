"""What one image's saliency maps depend on (the technique's ``Params``, the request of one map) and
how much work they may do: every method's settings fitted to the model's size and the build's
budget at plan time (``sized``), the passes they count (``forwards``: what ``build --dry-run``
shows), and the sized values read back from a plan's requests (``planned``).
The gradient methods and the forward-only ones (RISE, occlusion, the per-channel CAMs) are sized
apart, so that choosing one kind leaves the other's maps and cache entries as they were."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from reportgen.attribution.methods import SaliencyMethod, every_name
from reportgen.attribution.perturbation import window_starts
from reportgen.core.artifacts import not_keyed
from reportgen.core.choices import ParamError

IG_BASELINES = {"black": 0.0, "white": 1.0, "mean": None}  # pixel value; None = the dataset mean (0 after normalising)


@dataclass(frozen=True)
class Params:
    methods: tuple[str, ...] = field(default_factory=every_name)  # default: every registered method
    cam_layer: str = ""  # empty: the classic one (VGG) or the last feature-map layer before global pooling
    smoothgrad_samples: int = 8
    smoothgrad_noise: float = 0.15  # noise spread as a fraction of the input's value range
    ig_steps: int = 8  # Gauss-Legendre points along the path
    ig_baseline: str = "black"  # black, white or mean (the dataset's mean colour)
    gradshap_samples: int = 16  # Gradient SHAP's baselines (one per sample) and gradients
    # Its noise on the input, as smoothgrad_noise; 0 (as Erion et al.'s expected gradients): none
    gradshap_noise: float = 0.0
    # RISE's masks; Petsiuk et al. used 4000 (full): fewer leave a grainier map
    rise_masks: int = 1000
    # A mask's grid of cells per side and the chance that a cell is kept: the paper's 7 x 7 (one
    # cell per position of a 224 px CNN's last 7 x 7 map) and one half
    rise_cells: int = 7
    rise_keep: float = 0.5
    # Occlusion's square and its step, pixels of the model's input (cut to its side): 32 px is one
    # cell of the last 7 x 7 map of a 224 px CNN, about an object's part (Zeiler & Fergus hid an
    # eye, a wheel); a step of half the square covers each pixel by four squares, whose mean
    # smooths the grid's edges. Forwards per image: (224 / stride) squared, about.
    occlusion_window: int = 32
    occlusion_stride: int = 16
    # Score-CAM's and Ablation-CAM's CAM-layer channels per image, one forward each (those with the
    # largest total activation; the others weigh nothing); 0: every channel
    cam_channels: int = 256
    sanity: bool = True  # randomisation test + deletion score
    randomisation_stages: int = 2  # cascade steps from the top layer down; the last randomises all; 0: none
    deletion_steps: int = 10  # 0: no deletion score
    seed: int = 0
    batch_size: int = not_keyed(8, "how many go through the model at once")
    # Seconds one image's maps may take on one model (reportgen/core/budget.py): SmoothGrad's samples and
    # Integrated Gradients' steps (to 4 at the least) and the deletion steps (to 5) shrink until
    # the counted passes fit; 0: no limit
    budget_s: float = not_keyed(10.0, "the step counts it shrinks are keyed")


@dataclass(frozen=True)
class SanityChecks:
    """What every map depends on when the sanity metrics are on."""

    randomisation_stages: int
    deletion_steps: int
    seed: int


@dataclass(frozen=True)
class SaliencyRequest:
    """One image's map by one method: the class it explains (``target``: the pinned one; None: the
    top-1 prediction), the sanity checks when on, and of the other settings only those the method
    reads (its ``key_fields``; the CAM layer for a CAM), so that changing another method's setting
    keeps its cache entries. Unread settings are None."""

    method: str
    sanity: bool
    checks: SanityChecks | None = None
    target: int | None = None
    cam_layer: str | None = None
    smoothgrad_samples: int | None = None
    smoothgrad_noise: float | None = None
    ig_steps: int | None = None
    ig_baseline: str | None = None
    gradshap_samples: int | None = None
    gradshap_noise: float | None = None
    rise_masks: int | None = None
    rise_cells: int | None = None
    rise_keep: float | None = None
    occlusion_window: int | None = None
    occlusion_stride: int | None = None
    cam_channels: int | None = None
    seed: int | None = None


# What the budget shrinks, to at least this
SIZED = {"smoothgrad_samples": 4, "ig_steps": 4, "gradshap_samples": 4, "deletion_steps": 5, "rise_masks": 64,
         "cam_channels": 16}


def forward_only(method: SaliencyMethod) -> bool:
    """RISE, occlusion and the CAMs that run a forward per channel: their work is sized apart from
    the gradient methods', so that choosing them leaves those maps (and cache entries) as they were."""
    return method.name in ("rise", "occlusion") or "cam_channels" in method.key_fields


def sized(params: Params, card, methods, cam_layer: str | None = None) -> Params:
    """``params`` fitted to ``card`` and its budget. Occlusion's square is cut to the input's side
    and its step to the square (so that squares cover every pixel); Score-CAM's and Ablation-CAM's
    channels to the CAM layer's. The gradient methods' passes (``gradient_passes``) shrink by one
    share until they fit ``budget_s``: their samples and steps, each to its ``SIZED`` least. The
    forward-only methods' (``forward_passes``) are fitted to ``budget_s`` on their own: fewer
    masks and channels, a longer step (at most the square)."""
    from reportgen.core.budget import scaled, share

    _check(params, {method.name for method in methods})
    window = min(params.occlusion_window, card.input_size)
    params = replace(params, occlusion_window=window, occlusion_stride=min(params.occlusion_stride, window))
    if cam_layer and any("cam_channels" in method.key_fields for method in methods):
        layer_channels = card.layer(cam_layer).channels or params.cam_channels
        params = replace(params, cam_channels=min(params.cam_channels or layer_channels, layer_channels))
    fraction = share(params.budget_s, gradient_passes(params, methods) * card.gflops)
    if fraction < 1.0:
        params = replace(params,
                         smoothgrad_samples=scaled(params.smoothgrad_samples, fraction, SIZED["smoothgrad_samples"]),
                         ig_steps=scaled(params.ig_steps, fraction, SIZED["ig_steps"]),
                         gradshap_samples=scaled(params.gradshap_samples, fraction, SIZED["gradshap_samples"]),
                         deletion_steps=scaled(params.deletion_steps, fraction, SIZED["deletion_steps"]))
    fraction = share(params.budget_s, forward_passes(params, methods, card.input_size) * card.gflops)
    if fraction == 1.0:
        return params
    stride = min(window, math.ceil(params.occlusion_stride / math.sqrt(fraction)))  # squares fall with its square
    return replace(params, rise_masks=scaled(params.rise_masks, fraction, SIZED["rise_masks"]), occlusion_stride=stride,
                   cam_channels=scaled(params.cam_channels, fraction, SIZED["cam_channels"]))


def forwards(params: Params, methods, side: int) -> float:
    """One image's passes through the model, in forwards, of every method (``sized``)."""
    return gradient_passes(params, methods) + forward_passes(params, methods, side)


def _models(params: Params) -> tuple[int, int]:
    """(models a map is made on: the randomised ones too when the sanity metrics are on, the
    deletion check's forwards per map)."""
    if not params.sanity:
        return 1, 0
    return 1 + params.randomisation_stages, (params.deletion_steps + 1) * (params.deletion_steps > 0)


def gradient_passes(params: Params, methods) -> float:
    """The gradient methods' passes, in forwards (a backward counts as one more): the gradient
    rules' shared pass, SmoothGrad's, Integrated Gradients' and Gradient SHAP's, on every model
    ``_models`` counts, and their deletion checks."""
    from reportgen.core.budget import BACKWARD

    names = {method.name for method in methods}
    rules = {rule for method in methods for rule in method.rules}
    gradients = max(1, len(rules)) + params.smoothgrad_samples * ("smoothgrad" in names) \
        + params.ig_steps * ("integrated_gradients" in names) + params.gradshap_samples * ("gradient_shap" in names)
    models, deletion = _models(params)
    return BACKWARD * gradients * models + sum(not forward_only(method) for method in methods) * deletion


def forward_passes(params: Params, methods, side: int) -> float:
    """The forward-only methods' forwards: RISE's masks, occlusion's squares over a ``side`` px
    input, a forward per channel of each per-channel CAM, on every model, and their deletion checks."""
    names = {method.name for method in methods}
    per_channel = sum("cam_channels" in method.key_fields for method in methods)
    models, deletion = _models(params)
    work = params.rise_masks * ("rise" in names) + _squares(params, side) * ("occlusion" in names) \
        + per_channel * params.cam_channels
    return work * models + sum(forward_only(method) for method in methods) * deletion


def _check(params: Params, names) -> None:
    """One line naming the setting a chosen perturbation method cannot run with."""
    if "rise" in names and not (params.rise_masks >= 1 and params.rise_cells >= 1 and 0 < params.rise_keep <= 1):
        raise ParamError("saliency.rise_masks and rise_cells must be at least 1 and rise_keep in (0, 1]")
    if "occlusion" in names and not 1 <= params.occlusion_stride <= params.occlusion_window:
        raise ParamError("saliency.occlusion_stride must be at least 1 and at most occlusion_window")


def _squares(params: Params, side: int) -> int:
    """Occlusion's squares over a ``side`` x ``side`` input."""
    return len(window_starts(side, params.occlusion_window, params.occlusion_stride)) ** 2


def planned(params: Params, requests: "list[SaliencyRequest]") -> Params:
    """``params`` with the values its plan sized (``sized``), as its requests carry them, so that
    computing some of a plan's maps gives them the sizes the whole plan had."""
    for request in requests:
        carried = {name: getattr(request, name) for name in ("smoothgrad_samples", "ig_steps", "gradshap_samples",
                                                             "rise_masks", "occlusion_window", "occlusion_stride",
                                                             "cam_channels")
                   if getattr(request, name) is not None}
        params = replace(params, **carried)
        if request.checks is not None:
            params = replace(params, deletion_steps=request.checks.deletion_steps)
    return params
