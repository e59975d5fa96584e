"""The frozen configuration of one build (``BuildConfig``, the one place its defaults are written),
the gallery's config file (``reportgen.toml`` or ``[tool.reportgen]`` in ``pyproject.toml``), and
the one resolution every front door goes through: what was given (flags and their REPORTGEN_*
variables, or the Python API's arguments) over the config file over the defaults. Technique
parameters are read in ``reportgen.interface.overrides``."""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from reportgen.core.choices import (ANIMATIONS, EXECUTORS, PRESETS, WEIGHTS, ConfigError, ParamError, check_choice, check_choices,
                               check_device)
from reportgen.models.embedded import DEFAULT_MODEL
from reportgen.interface.overrides import Override, resolve_overrides, set_override, typed_overrides
from reportgen.techniques.base import Technique

if TYPE_CHECKING:  # imported where a declaration is read: the file settings need no model code
    from reportgen.models.declared import Declaration, UserModel


CONFIG_FILE = "reportgen.toml"
# What a config file may set, and each key's TOML type; "overrides" is a table of tables,
# one per technique: [overrides.feature_maps] layers = ["features.1"].
FILE_KEYS: dict[str, type | tuple[type, ...]] = {
    "input": str, "models": (list, str), "techniques": (list, str), "preset": str, "out": str,
    "cache_dir": str, "device": str, "weights": str, "strict": bool, "overrides": dict,
    "executor": str, "ray_address": str, "ray_workers": int, "model": dict, "examples": str,
    "follow_links": bool, "animation": str,
}
# A user's model, declared as [model.NAME] (models/declared.py), and each key's TOML type.
MODEL_KEYS: dict[str, type | tuple[type, ...]] = {
    "factory": str, "weights": str, "classes": (str, list), "input_size": (int, list), "channels": int,
    "mean": list, "std": list,
}
PATH_KEYS = ("input", "out", "cache_dir", "examples")


@dataclass(frozen=True)
class FileSettings:
    """A config file's settings: paths resolved against the file's folder, lists as tuples, and
    typed overrides, each kept with its key so an error can name it."""

    path: Path | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    declared: Mapping[str, Declaration] = field(default_factory=dict)

    def where(self, key: str) -> str:
        return f"{self.path}: {key}"


def find_config(explicit: Path | None, folder: Path | None = None) -> Path | None:
    """``--config FILE``, else ``reportgen.toml`` in ``folder``, else a ``pyproject.toml`` there
    with a ``[tool.reportgen]`` table, else nothing."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    base = folder if folder is not None else Path()
    if (base / CONFIG_FILE).is_file():
        return base / CONFIG_FILE
    pyproject = base / "pyproject.toml"
    if pyproject.is_file() and "reportgen" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    return None


def load_config(path: Path | None) -> FileSettings:
    """Read and check a config file; every error names the file and the key."""
    if path is None:
        return FileSettings()
    document = _read_toml(path)
    table = document.get("tool", {}).get("reportgen") if path.name == "pyproject.toml" else document
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.reportgen] is not a table")
    prefix = "tool.reportgen." if path.name == "pyproject.toml" else ""
    values: dict[str, Any] = {}
    overrides: list[Override] = []
    declared: dict[str, Declaration] = {}
    for key, value in table.items():
        if key not in FILE_KEYS:
            raise ConfigError(f"{path}: unknown key {prefix}{key!r}; valid: {', '.join(FILE_KEYS)}")
        _check_type(f"{path}: {prefix}{key}", value, FILE_KEYS[key])
        if key == "overrides":
            overrides.extend(_file_overrides(path, f"{prefix}overrides", value))
        elif key == "model":
            declared = {name: _declaration(path, f"{prefix}model.{name}", name, table)
                        for name, table in value.items()}
        elif key in PATH_KEYS:
            values[key] = path.parent / value
        elif isinstance(value, list):
            values[key] = tuple(str(item) for item in value)
        else:
            values[key] = value
    return FileSettings(path, values, tuple(overrides), declared)


def _check_type(where: str, value: Any, kinds: type | tuple[type, ...]) -> None:
    if not isinstance(value, kinds):
        raise ConfigError(f"{where} has the wrong type ({type(value).__name__})")


def _declaration(path: Path, key: str, name: str, table: Any) -> Declaration:
    """One [model.NAME] table, checked: every error names the file and the key."""
    from reportgen.models.card import IMAGENET_MEAN, IMAGENET_STD, ModelError
    from reportgen.models.declared import Declaration, check_model_name, check_normalisation

    where = f"{path}: {key}"
    try:
        check_model_name(where, name)
    except ModelError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table (factory, weights, classes, input_size, channels, mean, std)")
    for item, value in table.items():
        if item not in MODEL_KEYS:
            raise ConfigError(f"{where}: unknown key {item!r}; valid: {', '.join(MODEL_KEYS)}")
        _check_type(f"{where}.{item}", value, MODEL_KEYS[item])
    factory = table.get("factory")
    if factory is None or ":" not in factory:
        raise ConfigError(f"{where}.factory: expected \"module:function\" (a .py beside {path.name}, or any "
                          "importable module)")
    base = path.parent.resolve()  # absolute: Ray workers rebuild the model from another folder
    weights = base / table["weights"] if "weights" in table else None
    if weights is not None and not weights.is_file():
        raise ConfigError(f"{where}.weights: {weights} does not exist")
    classes = _classes(path, where, table.get("classes"))
    size = table.get("input_size", 224)
    if isinstance(size, list):
        if len(size) != 2 or not all(isinstance(side, int) for side in size) or size[0] != size[1]:
            raise ConfigError(f"{where}.input_size: expected a size in px, or [height, width] of a square")
        size = size[0]
    if size < 1:
        raise ConfigError(f"{where}.input_size: {size} is not a size in px")
    channels = table.get("channels", 3)
    mean = tuple(table.get("mean", IMAGENET_MEAN if channels == 3 else [0.5]))
    std = tuple(table.get("std", IMAGENET_STD if channels == 3 else [0.25]))
    try:
        check_normalisation(where, channels, mean, std)
    except ModelError as error:
        raise ConfigError(str(error)) from None
    return Declaration(name=name, where=where, factory=factory, folder=base, weights=weights,
                       classes=classes, input_size=size, channels=channels, mean=mean, std=std)


def _classes(path: Path, where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        raise ConfigError(f"{where}.classes: missing (a file, one name a line, or a list of names)")
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    file = path.parent / value
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}.classes: cannot read {file} ({error.__class__.__name__})") from None
    return tuple(line.strip() for line in lines if line.strip())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def _file_overrides(path: Path, key: str, table: dict[str, Any]) -> list[Override]:
    found = []
    for technique, params in table.items():
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: {key}.{technique} must be a table of parameters")
        found += [Override(f"{path}: {key}.{technique}.{param}", technique, param, value)
                  for param, value in params.items()]
    return found


@dataclass(frozen=True)
class BuildConfig:
    """One build's settings. Its field defaults are reportgen's defaults: the command line's help,
    ``reportgen list`` and the Python API read them from here."""

    input_dir: Path
    techniques: tuple[str, ...]  # resolved, in gallery order; none given: every gallery technique
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    out: Path = Path("site")
    cache_dir: Path = Path(".reportgen-cache")
    preset: str = "standard"
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    weights: str = "pretrained"
    strict: bool = False
    executor: str = "local"
    ray_address: str | None = None
    ray_workers: int | None = None  # actors per model; default: one per CPU (GPU) of the cluster
    user_models: Mapping[str, UserModel] = field(default_factory=dict)
    follow_links: bool = False  # follow links that leave the input folder
    animation: str = "gif"  # how animations are written (choices.ANIMATIONS): GIF, or full-colour WebP


# A setting's BuildConfig field where the two names differ (``examples`` has none: it becomes
# layer ascent's ``examples_dir`` override).
SETTING_FIELDS = {"input": "input_dir"}


def default(key: str) -> Any:
    """A setting's default, read from BuildConfig's field (None: no default)."""
    for item in dataclasses.fields(BuildConfig):
        if item.name == SETTING_FIELDS.get(key, key):
            if item.default is not dataclasses.MISSING:
                return item.default
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
    return None


def default_text(key: str) -> str:
    """A setting's default as the command line writes it, for ``--help``."""
    value = default(key)
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Path):
        return value.as_posix()
    return str(value).lower() if isinstance(value, bool) else str(value)


# Every command resolves its settings this one way (``setting``); ``reportgen --help`` says so.
SETTINGS_ORDER = ("Every command reads its settings the same way: the flags, then REPORTGEN_* environment "
                  "variables (REPORTGEN_OUT, REPORTGEN_CACHE_DIR, ...), then the config file (--config or "
                  f"REPORTGEN_CONFIG, else ./{CONFIG_FILE} or [tool.reportgen] in ./pyproject.toml), then the "
                  "defaults.")


def split_names(names: str | Iterable[str] | None) -> tuple[str, ...]:
    """Names as the command line writes them (``a,b``) or as a list, without blanks or repeats."""
    items = (names or "").split(",") if isinstance(names, str) or names is None else map(str, names)
    return tuple(dict.fromkeys(n.strip() for n in items if n.strip()))


def choose_techniques(names: str | Iterable[str] | None, registry: Mapping[str, Technique]) -> tuple[str, ...]:
    """The techniques named (all gallery techniques by default), in gallery order."""
    shown = [name for name, technique in registry.items() if technique.gallery]
    chosen = split_names(names)
    if not chosen:
        return tuple(shown)
    check_choices("technique", chosen, shown)
    return tuple(n for n in shown if n in chosen)


def check_preset(preset: str) -> str:
    return check_choice("preset", preset, PRESETS)


# --- resolution ------------------------------------------------------------------------------


def setting(key: str, given: Mapping[str, Any], file: FileSettings) -> Any:
    """One setting: what was given (a flag or its REPORTGEN_* variable, or the Python API's
    argument; None = not given) over the config file over the default."""
    value = given.get(key)
    if value is not None:
        return value
    return file.values[key] if key in file.values else default(key)


def settings_for(config_file: Path | None, **given: Any) -> dict[str, Any]:
    """The settings a command other than ``build`` needs (e.g. ``cache_dir``), resolved as a
    build resolves them; a path from the config file is relative to that file's folder. The
    file's declared models are registered by name."""
    file = load_config(find_config(config_file))
    from reportgen.models.declared import declare

    for name, declaration in file.declared.items():  # a declared model is known by name to every command
        declare(name, declaration)
    return {key: setting(key, given, file) for key in given}


def build_config(given: Mapping[str, Any], file: FileSettings, registry: Mapping[str, Technique],
                 settings: Iterable[str] = (), overrides: Mapping[str, Mapping[str, Any]] | None = None) -> BuildConfig:
    """One build's configuration: what was given (flags, environment or the Python API's
    arguments; None = not given) over the config file over the defaults. Technique parameters:
    ``settings`` (``--set`` texts) and ``overrides`` (typed) over the file's. Every value is
    checked here, and an error names the flag, argument, or file and key."""
    def pick(key: str) -> Any:
        return setting(key, given, file)

    def where(key: str) -> str:
        return file.where(key) if given.get(key) is None else f"--{key.replace('_', '-')}"

    def choice(key: str, valid: Iterable[str]) -> str:
        return _checked(lambda value: check_choice(key, value, valid), pick(key), where(key))

    input_dir = pick("input")
    if input_dir is None:
        raise ConfigError(f"no INPUT_DIR given, and no {CONFIG_FILE} (or [tool.reportgen] in pyproject.toml) "
                          "here names an input folder")
    try:
        techniques = choose_techniques(pick("techniques"), registry)
    except ParamError as error:
        raise ConfigError(f"{where('techniques')}: {error}") from None
    resolved = resolve_overrides([*file.overrides, *map(set_override, settings), *typed_overrides(overrides)],
                                 registry)
    examples = pick("examples")
    if examples is not None:  # layer ascent's dataset examples come from this folder
        if not Path(examples).is_dir():
            raise ConfigError(f"{where('examples')}: examples folder {examples} does not exist or is not a folder")
        layer_ascent = resolved.setdefault("layer_ascent", {})
        if given.get("examples") is not None or "examples_dir" not in layer_ascent:  # a --set wins over the file
            layer_ascent["examples_dir"] = str(Path(examples).resolve())
        if pick("follow_links"):  # --follow-links reaches the examples folder too
            layer_ascent.setdefault("examples_follow_links", True)
    return BuildConfig(
        input_dir=Path(input_dir),
        models=split_names(pick("models")) or default("models"),
        techniques=techniques,
        out=Path(pick("out")),
        cache_dir=Path(pick("cache_dir")),
        preset=choice("preset", PRESETS),
        overrides=resolved,
        device=_checked(check_device, pick("device"), where("device")),
        weights=choice("weights", WEIGHTS),
        strict=bool(pick("strict")),
        executor=choice("executor", EXECUTORS),
        ray_address=pick("ray_address"),
        ray_workers=pick("ray_workers"),
        user_models=dict(file.declared),
        follow_links=bool(pick("follow_links")),
        animation=choice("animation", ANIMATIONS),
    )


def _checked(check: Any, value: Any, where: str) -> Any:
    try:
        return check(value)
    except ParamError as error:
        raise ConfigError(f"{where}: {error}") from None
