"""Models by name: torchvision's classifiers, the embedded offline models, timm's (``timm:NAME``),
a user's own (declared in the config file, or a module passed from Python), tests' tiny networks.

One job per module: ``card`` (what planning knows of a model), ``catalogue`` (which models exist
and where their weights are), ``embedded`` (models built in this process), ``declared`` (a user's model), ``timm_models``,
``describe`` (making and
caching a card), ``probe`` (what a card learns by running the model), ``layout`` (any layer's
output as a channels-first map), ``loading`` (a card made runnable) and ``device``. This package imports none of
them that needs torch until it is used.
"""
from reportgen.models.card import (CARD_VERSION, IMAGENET_MEAN, IMAGENET_STD, RANDOM_SEED, LayerInfo, ModelCard,
                                   ModelError, package_version)
from reportgen.models.catalogue import (available_models, check_name, checkpoints_dir, is_embedded,
                                        torchvision_catalogue, torchvision_names)
from reportgen.models.describe import card_for
from reportgen.models.device import prepare_device, select_device
from reportgen.models.embedded import DEFAULT_MODEL, LocalModel, imagenet_categories, register_local
from reportgen.models.layout import to_maps
from reportgen.models.loading import LoadedModel, load
from reportgen.models.weights import require_weights

__all__ = [
    "CARD_VERSION", "DEFAULT_MODEL", "IMAGENET_MEAN", "IMAGENET_STD", "RANDOM_SEED", "LayerInfo", "LoadedModel",
    "LocalModel", "ModelCard", "ModelError", "available_models", "card_for", "check_name", "checkpoints_dir",
    "imagenet_categories", "is_embedded", "load", "package_version", "prepare_device", "register_local",
    "require_weights", "select_device", "to_maps", "torchvision_catalogue", "torchvision_names",
]
