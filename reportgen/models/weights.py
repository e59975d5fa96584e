"""Pretrained torchvision weights: found in torch.hub's checkpoint folder, or downloaded into it by
torch.hub itself, before any work.

Whether the network can deliver a file is decided by trying what torchvision would do, not by a
probe of our own: torch.hub's download honours ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (it
uses urllib), checks the sha256 prefix that torchvision puts in each file's name, writes to a
``.partial`` file and renames it only when complete, and removes it when anything fails. So a
proxy-only network downloads, a corrupt file never lands, and a network failure becomes one line
naming the file to place and where.

How long a failure may take: a refused connection or an unknown host name fails at once; a route
that swallows packets waits ``CONNECT_TIMEOUT_S`` for each socket operation (the download sets it as
urllib's default timeout, which torch.hub does not set); name resolution itself is the system's and
is not covered by that timeout.

Every load checks the file against the sha256 prefix in its name, a file that was already there
too (hashed once per process while the file stays the same), and reads it with
``torch.load(weights_only=True)``: a planted file that pickles code is refused, never run.
"""
from __future__ import annotations

import http.client
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportgen.core.errors import first_line
from reportgen.core.lazy import torch
from reportgen.models.card import ModelCard, ModelError
from reportgen.models import catalogue
from reportgen.models.catalogue import checkpoints_dir
from reportgen.core.digests import known_to_match, matches_its_name, named_hash

CONNECT_TIMEOUT_S = 10.0
# torchvision's builders read their weights through one module-level function, swapped while one builds.
_TORCHVISION_READS = threading.Lock()


class WeightsError(ModelError):
    """Pretrained weights cannot be had; the message is one line for a person."""


@dataclass(frozen=True)
class Checkpoint:
    model: str
    url: str

    @property
    def path(self) -> Path:
        return checkpoints_dir() / os.path.basename(self.url)

    @property
    def hash_prefix(self) -> str | None:
        return named_hash(self.path)

    @property
    def present(self) -> bool:
        return self.path.is_file()


def checkpoint_for(model: str) -> Checkpoint | None:
    """The DEFAULT weights of a torchvision classifier (None for a model without downloads)."""
    url = catalogue.torchvision_catalogue().get(model)
    if url is None:
        import torchvision

        try:
            url = torchvision.models.get_model_weights(model).DEFAULT.url
        except (ValueError, KeyError, AttributeError):
            return None
    return Checkpoint(model, url)


def fetch(checkpoint: Checkpoint, progress: bool = False, timeout_s: float = CONNECT_TIMEOUT_S) -> Path:
    """The checkpoint's file, downloaded first through torch.hub when it is not there yet, and
    checked against the hash in its name either way."""
    target = checkpoint.path
    if target.is_file():
        check_hash(checkpoint)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        torch.hub.download_url_to_file(checkpoint.url, str(target), checkpoint.hash_prefix, progress=progress)
    except RuntimeError as error:
        if "invalid hash value" not in str(error):
            raise
        raise WeightsError(
            f"{checkpoint.model}: the file downloaded from {checkpoint.url} does not match the hash in its "
            f"name {target.name} ({_first_line(error)}); nothing was kept. Try again, or place a verified copy "
            f"in {target.parent}/"
        ) from None
    except (OSError, http.client.HTTPException, ValueError) as error:  # URLError, timeouts, refusals
        raise WeightsError(unavailable(checkpoint, _first_line(error))) from None
    finally:
        socket.setdefaulttimeout(previous)
    known_to_match(target)  # torch.hub hashed it while downloading
    return target


def check_hash(checkpoint: Checkpoint) -> None:
    """The checkpoint's file starts its sha256 with the prefix in its name."""
    check_named_hash(checkpoint.path, checkpoint.model,
                     f"delete it and run `reportgen weights fetch {checkpoint.model}`, or place a verified copy there")


def check_named_hash(path: Path, model: str, remedy: str) -> None:
    """A weights file named as torch.hub names them starts its sha256 with the prefix in its name;
    ``remedy`` says what to do when it does not."""
    if not matches_its_name(path):
        raise WeightsError(f"{model}: {path} does not match the sha256 prefix {named_hash(path)} in its name "
                           f"(damaged or replaced); {remedy}")


def read_state(checkpoint: Checkpoint) -> dict[str, Any]:
    """The checkpoint's tensors, from its checked file, read with ``weights_only=True``."""
    path = fetch(checkpoint)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - UnpicklingError for pickled objects, RuntimeError for garbage
        refused = "weights_only" in str(error) or "Unpickl" in type(error).__name__
        what = "pickles objects besides tensors, refused unread" if refused else f"cannot be read ({first_line(error)})"
        raise WeightsError(f"{checkpoint.model}: {path} {what}; delete it and run "
                           f"`reportgen weights fetch {checkpoint.model}`") from None


def pretrained_torchvision(name: str) -> Any:
    """torchvision's model ``name`` with its DEFAULT weights, built by torchvision's own builder
    (some set arguments for their weights: Inception's input transform, a SWAG ViT's image size),
    which reads the weights through ``read_state`` instead of torch.hub's unrestricted unpickling."""
    import torchvision
    from torchvision.models import _api

    enum = torchvision.models.get_model_weights(name).DEFAULT
    checkpoint = Checkpoint(name, enum.url)
    state = read_state(checkpoint)
    with _TORCHVISION_READS:
        hub_reader = _api.load_state_dict_from_url
        _api.load_state_dict_from_url = lambda url, *args, **kwargs: state
        try:
            return torchvision.models.get_model(name, weights=enum, progress=False)
        except Exception as error:  # noqa: BLE001 - tensors that do not fit the architecture, and such
            raise ModelError(f"cannot load {name} weights from {checkpoint.path}: {first_line(error)}") from None
        finally:
            _api.load_state_dict_from_url = hub_reader


def unavailable(checkpoint: Checkpoint, reason: str) -> str:
    path = checkpoint.path
    return (
        f"{checkpoint.model}: pretrained weights are not available offline ({reason}). Place {path.name} "
        f"in {path.parent}/ (downloaded from {checkpoint.url}), run `reportgen weights fetch "
        f"{checkpoint.model}` where there is a network, or build with --weights random"
    )


def _first_line(error: BaseException) -> str:
    reason = getattr(error, "reason", None)  # URLError wraps the socket's error
    return first_line(reason if isinstance(reason, BaseException) else error)


def require_weights(card: ModelCard) -> None:
    """Before any work: pretrained torchvision weights are on disk, or downloaded now (see weights)."""
    if card.weights != "pretrained" or catalogue.is_embedded(card.name) or card.weights_url is None:
        return
    fetch(Checkpoint(card.name, card.weights_url))
