"""Which layer a CAM explains: the chosen one, the classic one (VGG), or one chosen by rule from the
model's card; and why the model's head may make Grad-CAM's averaged gradient misplace what it uses.
Read from the card alone (no torch), at plan time and on the pages."""
from __future__ import annotations

from typing import Any

from reportgen.models import ModelCard, ModelError

CLASSIC_CAM_LAYERS = {"vgg19": "features.35", "vgg16": "features.29"}  # the last convolution block's ReLU
NOT_CAM_LAYERS = {"MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "SelectAdaptivePool2d",
                  "Dropout", "Dropout2d", "Identity", "Flatten"}


REARRANGING = {"Permute", "Flatten", "Unflatten"}  # parameter-free reshuffles: never the layer a CAM explains


def cam_layer_for(params: Any, card: ModelCard) -> str | None:
    """The Grad-CAM layer: the chosen one, else the classic one for VGG, else chosen by rule from the
    card's probe (None when the model has no layer the rule accepts).

    Convolutional networks: the last layer with a feature map (more than 1 x 1) that is not pooling
    and that the class score's gradient reaches, widened to the outermost module ending with it
    (``layer4`` rather than ``layer4.2.relu``). Networks with channels-last or token layers
    (transformers): in the order layers finished in the probe, the last inner layer (not the
    network's own stem, final norm or head) whose map the gradient reaches, skipping pooling,
    reshuffles and containers that only pass a child's output on. That is Swin's last stage's last
    block, and ViT's last block's input norm ``ln_1``: its output and everything after it carry
    the class token alone to the head, so their patch tokens get no gradient."""
    if params.cam_layer:  # saliency's Params, or any with a cam_layer field
        info = card.layer(params.cam_layer)
        if info.layout is None or not info.spatial:
            raise ModelError(f"{card.name} layer {info.name!r} ({info.type}) has no feature map for Grad-CAM")
        return info.name
    if card.name in CLASSIC_CAM_LAYERS:
        return CLASSIC_CAM_LAYERS[card.name]
    maps = [info for info in card.layers if info.spatial and min(info.spatial) > 1 and info.type not in NOT_CAM_LAYERS
            and info.gradient]
    if any(info.layout in ("nhwc", "tokens") for info in maps):
        inner = [info for info in maps if "." in info.name and info.type not in REARRANGING and not info.relays
                 and info.finish is not None]
        return max(inner, key=lambda info: info.finish or 0).name if inner else None
    if not maps:
        return None
    chosen = maps[-1]
    by_name = {info.name: info for info in card.layers}
    name = chosen.name
    while "." in name:
        parent = by_name.get(name.rsplit(".", 1)[0])
        descendants = [info.name for info in card.layers if info.name.startswith(f"{parent.name}.")] if parent else []
        if not parent or (parent.channels, parent.spatial) != (chosen.channels, chosen.spatial) or descendants[-1] != chosen.name:
            break
        name = parent.name
    return name


POOLING = ("Pool",)  # a layer type containing this pools; to 1 x 1, it is one global average


def cam_head_note(card: ModelCard, cam_layer: str) -> str | None:
    """Why Grad-CAM may misplace what this model's head uses, or None when the head averages the
    CAM layer's map globally (Grad-CAM's mean gradient then weighs every cell alike, as the head
    does). Read from the probe: the first layer after the CAM layer whose output is no longer a
    map of more than one cell."""
    start = card.layer(cam_layer).finish
    after = sorted((info for info in card.layers if info.finish is not None and start is not None and info.finish > start
                    and not info.name.startswith(f"{cam_layer}.")), key=lambda info: info.finish or 0)
    for info in after:
        if info.spatial and min(info.spatial) > 1 and info.layout is not None:
            continue
        if any(word in info.type for word in POOLING):
            return None
        if card.layer(cam_layer).layout == "tokens":
            return ("the head reads the class token, not an average of this map: Grad-CAM's averaged gradient "
                    "can misplace what it uses (attention rollout follows the class token)")
        return (f"the head reads this map by position ({info.type} after it), not as one global average: "
                "Grad-CAM's averaged gradient can misplace what it uses; HiResCAM and LayerCAM keep each cell's own")
    return None
