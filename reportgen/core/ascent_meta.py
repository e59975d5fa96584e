"""What the optimising techniques report (class and layer ascent, deep dream, feature inversion):
their typed ``Meta`` and output roles, as ``reportgen.core.meta`` holds the others'. Torch-free."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

from reportgen.core.meta import Meta


# --- class and layer ascent ------------------------------------------------------------------


class AscentRoles:
    FINAL = "final"  # picture: the last frame
    GIF = "gif"  # animation: the optimisation's frames (a GIF, or a WebP with --animation webp)
    FEATURES = "features"  # raw array: the model's features of the final picture
    # raw arrays, the values at each frame: what was maximised (score minus regulariser), the score,
    # and for a class the model's probability of it and its top-1 class
    OBJECTIVE, SCORE, PROBABILITY, TOP1 = "objective", "score", "probability", "top1"


@dataclass(frozen=True)
class ClassAscentMeta(Meta):
    renamed: ClassVar[Mapping[str, str]] = {"category": "class_name", "top1": "top1_index",
                                            "top1_category": "top1_name", "final_probability": "probability",
                                            "final_logit": "logit"}

    class_index: int  # the class maximised
    class_name: str
    regulariser: str  # none, l1 or l2
    style: str  # naive or robust
    probability: float  # of class_index on the final picture as shown
    logit: float  # its score there
    top1_index: int  # the model's top-1 class on the final picture
    top1_name: str
    frame_steps: tuple[int, ...]  # the step of each frame
    steps: int | None = None  # updates made: the cap, or fewer where the values plateaued (None: older builds)
    step_cap: int | None = None

    @property
    def seen_as_its_class(self) -> bool:
        return self.top1_index == self.class_index


@dataclass(frozen=True)
class UnitMeta(Meta):
    """A unit's visualisation (layer ascent)."""

    layer: str
    filter: int
    style: str
    regulariser: str
    final_activation: float  # the unit's mean activation on the final picture
    final_peak: float  # its highest activation there
    frame_steps: tuple[int, ...]
    steps: int | None = None  # as ClassAscentMeta's
    step_cap: int | None = None


@dataclass(frozen=True)
class Example(Meta):
    image: str  # its source image: a name relative to the input folder, or to the examples folder
    activation: float
    box: tuple[int, int, int, int]  # left, top, right, bottom in the image's pixels


@dataclass(frozen=True)
class ExamplesMeta(Meta):
    """A unit's dataset examples (layer ascent): where in the inputs, or in the images of an
    examples folder, it responds most."""

    layer: str
    filter: int
    input_peak: float  # the unit's highest activation over the images mined
    examples: tuple[Example, ...]  # strongest first
    images: int | None = None  # how many images of the examples folder were mined (None: the inputs)


class LayerAscentRoles(AscentRoles):
    EXAMPLES = "examples"  # picture of the dataset examples: the patches side by side
    ACTIVATIONS = "activations"  # raw array of the dataset examples: each patch's activation


# --- deep dream ------------------------------------------------------------------------------


class DreamRoles:
    DREAM = "dream"  # picture: the dreamed image at the input's size
    OCTAVES = "octaves"  # animation: the image after each octave (when asked for)
    OBJECTIVE = "objective"  # raw array: the objective before every step


@dataclass(frozen=True)
class DeepDreamMeta(Meta):
    layer: str
    filter: int | None  # the channel of one_channel; None: all channels
    method: str  # simple or octaves
    objective: str  # one_channel or all_channels
    reduction: str  # mean or norm of the chosen channels
    working_size: tuple[int, int]  # (width, height) the dream ran at
    octaves: int
    steps: int  # in all octaves
    objective_before: float
    objective_after: float


# --- feature inversion -----------------------------------------------------------------------


class InversionRoles:
    # picture: the image found, at the model's input size; named as the ascents' final picture,
    # whose contrast and colourfulness the regression check compares as a set (regress/outcome.py)
    FINAL = "final"
    FEATURES = "features"  # raw array: the model's features of the reconstruction (regression checks)
    # raw arrays, the values at each frame: what was maximised (minus the relative distance minus
    # the prior) and the relative feature distance
    OBJECTIVE, DISTANCE = "objective", "distance"


@dataclass(frozen=True)
class InversionMeta(Meta):
    layer: str
    style: str  # the parameterisation ("robust": a Fourier image, jittered; optim/styles.py)
    distance: float  # ||f(x) - f(x0)|| / ||f(x0)|| at the layer, on the reconstruction as shown (8-bit)
    blurred_distance: float  # ... of the input blurred (a yardstick: what a blurry copy keeps)
    frame_steps: tuple[int, ...]  # the step of each value recorded
    steps: int | None = None  # updates made: the cap, or fewer where the objective plateaued
    step_cap: int | None = None
