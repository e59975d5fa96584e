"""A model's card: read from the cache when it is there (no torch import), else made by building the
untrained architecture and probing it (models/probe.py: input constraints, layer layouts and
gradients), then cached. A dry run's card (``sketch_card``) is made on the meta device instead:
shapes and counted FLOPs without weights or arithmetic, in a fraction of a second for any model."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.core.choices import WEIGHTS, check_choice
from reportgen.core.code_identity import code_identity
from reportgen.core.lazy import torch
from reportgen.models import catalogue
from reportgen.models.card import CARD_VERSION, IMAGENET_MEAN, IMAGENET_STD, RANDOM_SEED, ModelCard, package_version
from reportgen.models.catalogue import checkpoints_dir
from reportgen.models import timm_models
from reportgen.models.embedded import LOCAL, LocalModel
from reportgen.models.weights import checkpoint_for, fetch
from reportgen.core.staging import atomic_write_bytes, sweep_abandoned

if TYPE_CHECKING:
    from reportgen.core.cache import Cache

def card_for(name: str, weights: str, cache: "Cache | None") -> ModelCard:
    """The model's card, from the cache when it is there (no torch import), else built (and
    cached, unless ``cache`` is None: ``reportgen.explain`` writes nothing)."""
    weights, cache_name = _cached_as(name, weights)
    stored = cache.read_card(cache_name) if cache is not None else None
    if stored is not None:
        return ModelCard.from_json(stored)
    catalogue.check_name(name)
    if weights == "pretrained" and name not in LOCAL:
        # Before building the card (the architecture, a probe of its layers: seconds for a big
        # model): missing weights are downloaded, or reported, before anything else is done.
        checkpoint = checkpoint_for(name)
        if checkpoint is not None:
            fetch(checkpoint)
    card = _build_card(name, weights)
    if cache is not None:
        _store_card(cache, cache_name, card)
    return card


def cached_card(name: str, weights: str, cache: "Cache") -> ModelCard | None:
    """The model's card when the cache holds it (nothing is built, downloaded or written), else None."""
    stored = cache.read_card(_cached_as(name, weights)[1])
    return ModelCard.from_json(stored) if stored is not None else None


def sketch_card(name: str, weights: str) -> ModelCard:
    """The card as the build would make it, from the architecture built on the meta device (no
    weights read, no arithmetic: the probe reads shapes and the autograd graph); the cache is not
    touched. Where a model cannot be built there (a factory that computes on its parameters), it is
    built untrained on the CPU instead."""
    weights, _ = _cached_as(name, weights)
    catalogue.check_name(name)
    try:
        return _build_card(name, weights, "meta", load=False)
    except Exception:  # noqa: BLE001 - any model code may fail on values-free tensors; the CPU build is exact
        return _build_card(name, weights, "cpu", load=False)


def _cached_as(name: str, weights: str) -> tuple[str, str]:
    """(the weights its card says, the name its card is cached as)."""
    check_choice("weights", weights, WEIGHTS)
    timm_models.ensure(name)
    local = LOCAL.get(name)
    if local is not None and local.untrained:
        weights = "random"
    return weights, _card_cache_name(name, weights, _declaration(local, weights) if local else [])


def _store_card(cache: "Cache", name: str, card: ModelCard) -> None:
    cache.claim()  # a build makes its cache folder only once it has something to keep
    path = cache.card_file(name)
    if path.parent.is_dir():
        sweep_abandoned(path.parent, "tmp")
    atomic_write_bytes(path, json.dumps(card.to_json(), sort_keys=True).encode())


def _declaration(local: LocalModel, weights: str) -> list[Any]:
    """Everything a user's declaration says (its identity: factory, sources, weights, channels; and
    input size, normalisation, classes), so that a card made from an earlier declaration is never
    reused; for a timm model, its pretrained weights' content."""
    if local.identity is not None:
        return [local.identity(), local.input_size, list(local.mean), list(local.std), list(local.categories())]
    return [local.weights_content()] if weights == "pretrained" and local.weights_content else []


def _card_cache_name(name: str, weights: str, declaration: list[Any]) -> str:
    """Named by everything the card is made from, the code that makes it included."""
    versions = [package_version(p) for p in ("torch", "torchvision", "timm")]
    tag = json.dumps([name, weights, CARD_VERSION, code_identity(), versions] + declaration)
    return f"card-{name}-{weights}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"


def _build_card(name: str, weights: str, device: str = "cpu", load: bool = True) -> ModelCard:
    from reportgen.models.probe import forward_cost, input_constraints, probe_layers

    with torch.device(device):
        net, meta = _architecture(name, weights, load)
    net.eval()
    net.requires_grad_(False)
    min_size, multiple, fixed = input_constraints(net, meta["input_size"])
    layers = probe_layers(net, meta["input_size"], multiple, fixed is not None)
    gflops, activation_mb = forward_cost(net, meta["input_size"])
    # A user's model is known by its identity (its factory's source, its weights) whatever the weights
    weights_id = meta["weights_id"] if weights == "pretrained" or meta["own"] else f"random(seed={RANDOM_SEED})"
    return ModelCard(
        name=name,
        weights=weights,
        weights_id=weights_id,
        weights_file=meta["weights_file"] if weights == "pretrained" else None,
        weights_url=meta["weights_url"] if weights == "pretrained" else None,
        input_size=meta["input_size"],
        mean=tuple(meta["mean"]),
        std=tuple(meta["std"]),
        categories=tuple(meta["categories"]),
        layers=tuple(layers),
        parameters=tuple((n, tuple(p.shape)) for n, p in net.named_parameters()),
        min_size=min_size,
        size_multiple=multiple,
        fixed_size=fixed,
        gflops=round(gflops, 3),
        activation_mb=round(activation_mb, 1),
    )


def _architecture(name: str, weights: str, load: bool = True) -> tuple[Any, dict[str, Any]]:
    """An untrained instance (seeded) and what the card needs to know of its weights; ``load``: a
    user's weights are loaded into it, so that weights that do not fit fail now."""
    torch.manual_seed(RANDOM_SEED)
    if name in LOCAL:
        local = LOCAL[name]
        net = local.build()
        if load and weights == "pretrained" and local.identity is not None and local.load_weights is not None:
            local.load_weights(net)  # a user's weights that do not fit fail now, in one line, before any work
        weights_file = local.weights_file() if local.weights_file else None
        meta = {
            "input_size": local.input_size,
            "mean": local.mean,
            "std": local.std,
            "categories": list(local.categories()),
            "weights_file": weights_file,
            "weights_id": (local.identity() if local.identity else local.weights_content() if local.weights_content
                           else Path(weights_file).name if weights_file else "builtin"),
            "weights_url": None,
            "own": local.identity is not None,
        }
        return net, meta
    import torchvision

    enum = torchvision.models.get_model_weights(name).DEFAULT
    net = torchvision.models.get_model(name, weights=None)
    transforms = enum.transforms()
    meta = {
        "input_size": int(getattr(transforms, "crop_size", [224])[0]),
        "mean": tuple(getattr(transforms, "mean", IMAGENET_MEAN)),
        "std": tuple(getattr(transforms, "std", IMAGENET_STD)),
        "categories": list(enum.meta["categories"]),
        "weights_file": str(checkpoints_dir() / os.path.basename(enum.url)),
        "weights_id": f"{enum} ({os.path.basename(enum.url)})",
        "weights_url": enum.url,
        "own": False,
    }
    return net, meta
