"""Feature visualisation by optimisation: image parameterisations, transforms, objectives, ascent loop.

This package file stays torch-free (techniques use it while planning); the modules in it import
torch.
"""
from __future__ import annotations

from typing import Any

STYLES = ("naive", "robust")  # the seed's pixel ascent; Fourier image + random transforms
PENALTIES = ("none", "l1", "l2")


def check_choices(params: Any, field: str, valid: tuple[str, ...]) -> None:
    """A ParamError naming the valid choices when a tuple field holds an unknown one."""
    from reportgen.techniques.base import ParamError  # here: the techniques package imports this one

    unknown = [value for value in getattr(params, field) if value not in valid]
    if unknown:
        raise ParamError(f"unknown {field} {', '.join(unknown)}; valid: {', '.join(valid)}")


def style_spec(params: Any, regulariser: str, style: str) -> dict[str, Any]:
    """The Params fields that matter to one run: the chosen penalty's lambda, the chosen style's lr."""
    return {
        "regulariser": regulariser, "style": style,
        "l1_weight": params.l1_weight if regulariser == "l1" else None,
        "l2_weight": params.l2_weight if regulariser == "l2" else None,
        "lr": params.lr if style == "naive" else None,
        "robust_lr": params.robust_lr if style == "robust" else None,
    }
