"""Command line: a thin click group that parses, delegates and turns errors into one-line messages.

Exit codes of ``build``: 0 all went well; 1 a technique failed (the rest was built); 2 the build
could not start (bad option, unknown model, missing weights, no images); 3 the gallery was built
but some inputs were skipped (``--strict`` turns skips into exit 2 before any work).
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import click

from reportgen import __version__
from reportgen.core.choices import ANIMATIONS, DEVICES, EXECUTORS, PRESETS
from reportgen.interface import completion
from reportgen.interface.config import SETTINGS_ORDER, default_text
from reportgen.interface.options import (EXIT_FAILED, EXIT_SKIPPED, cache_dir_option, config_option, fail, note,
                                         out_option, resolved_settings, verbosity, weights_option)
from reportgen.interface.weights_commands import weights
from reportgen.regress.types import Tolerance

# Each --tolerance with its default, read from Tolerance.
TOLERANCES = ", ".join(f"{item.name}={item.default}" for item in dataclasses.fields(Tolerance))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=SETTINGS_ORDER)
@click.version_option(__version__, prog_name="reportgen")
def main() -> None:
    """Explain convolutional networks in pictures: every classic visualisation, as a static gallery."""


main.add_command(weights)


@main.command(short_help="Run the techniques over a folder of images and write the gallery.", epilog=f"""\b
Examples:
  reportgen build inputs/
  reportgen build inputs/ --models vgg16,resnet50 --preset quick
  reportgen build            (input and settings from ./reportgen.toml)
  reportgen build inputs/ --techniques class_ascent --set class_ascent.classes=52,tabby
  reportgen build inputs/ --models vgg16,resnet50 --dry-run      (the plan, nothing computed)

{SETTINGS_ORDER}

\b
Devices: auto, cpu, cuda (= cuda:0), cuda:N, mps.
Exit codes: 0 built (or planned, with --dry-run); 1 a technique failed (the rest was built and
published); 2 the build could not start; 3 built, but some inputs were skipped.""")
@click.argument("input_dir", required=False, type=click.Path(path_type=Path))
@config_option
@click.option("--models", envvar="REPORTGEN_MODELS", show_envvar=True, shell_complete=completion.models,
              help=f"Comma-separated model names [default: {default_text('models')}].")
@click.option("--techniques", envvar="REPORTGEN_TECHNIQUES", show_envvar=True, shell_complete=completion.techniques,
              help="Comma-separated technique ids [default: all].")
@out_option
@cache_dir_option
@click.option("--preset", type=click.Choice(PRESETS), envvar="REPORTGEN_PRESET", show_envvar=True,
              help=f"[default: {default_text('preset')}]")
@click.option("--set", "settings", multiple=True, metavar="TECHNIQUE.PARAM=VALUE", shell_complete=completion.settings,
              help="Override a parameter (repeatable; `reportgen list params` lists them).")
@click.option("--device", envvar="REPORTGEN_DEVICE", show_envvar=True, metavar="|".join(DEVICES),
              help=f"[default: {default_text('device')}]")
@weights_option
@click.option("--strict/--no-strict", default=None, help="Stop before any work if an input cannot be read.")
@click.option("--follow-links/--no-follow-links", default=None,
              help="Follow links that lead out of INPUT_DIR [default: skip them, each named].")
@click.option("--examples", type=click.Path(path_type=Path), envvar="REPORTGEN_EXAMPLES", show_envvar=True,
              metavar="DIR",
              help="Layer ascent's dataset examples: each unit's strongest patches over this folder's images "
                   "[default: the input images].")
@click.option("--animation", type=click.Choice(ANIMATIONS), envvar="REPORTGEN_ANIMATION", show_envvar=True,
              help="How optimisations are animated: gif (256 colours a frame, shown everywhere) or webp (full "
                   f"colour, about half the bytes) [default: {default_text('animation')}].")
@click.option("--executor", type=click.Choice(EXECUTORS), envvar="REPORTGEN_EXECUTOR", show_envvar=True,
              help=f"Where the misses are computed: here, or as Ray tasks [default: {default_text('executor')}].")
@click.option("--ray-address", envvar="REPORTGEN_RAY_ADDRESS", show_envvar=True, metavar="ADDRESS",
              help="Join this Ray cluster (default: start a local Ray instance).")
@click.option("--ray-workers", type=click.IntRange(min=1), envvar="REPORTGEN_RAY_WORKERS", show_envvar=True, metavar="N",
              help="Ray actors per model [default: one per CPU, or GPU, of the cluster].")
@click.option("--dry-run", is_flag=True,
              help="Print the plan and stop: per model and technique the artifacts, how many the cache holds, "
                   "the counted GFLOP and time of the rest, and what is skipped; no weights, nothing computed.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What goes to stdout: the summary line (the plan's table), or one JSON document: counts, "
                   "skips, failures, the site and manifest paths (messages stay on stderr).")
@verbosity
def build(input_dir, config_file, models, techniques, out, cache_dir, preset, settings, device, weights, strict,
          follow_links, examples, animation, executor, ray_address, ray_workers, dry_run, output, quiet,
          verbose) -> None:
    """Run every technique over INPUT_DIR's images and write the gallery (with -q: no progress, only
    errors, skipped inputs and the summary; with -v: also how much was found in the cache)."""
    from reportgen.interface.api import build_with
    from reportgen.core.choices import ParamError
    from reportgen.interface.config import build_config, find_config, load_config
    from reportgen.core.pipeline import BuildError
    from reportgen.core.progress import Progress, Silent, ToProgress
    from reportgen.gallery.site import SiteError, size_summary
    from reportgen.techniques.base import registry

    given = dict(input=input_dir, models=models, techniques=techniques, out=out, cache_dir=cache_dir,
                 preset=preset, device=device, weights=weights, strict=strict, examples=examples, executor=executor,
                 ray_address=ray_address, ray_workers=ray_workers, follow_links=follow_links, animation=animation)
    try:
        config = build_config(given, load_config(find_config(config_file)), registry(), settings)
    except ParamError as error:
        fail(str(error))
    if dry_run:
        _dry_run(config, output)
        return
    if config.executor == "ray":  # before any image is read or model described: an absent cluster fails at once
        from reportgen.core.executors import ExecutorError, check_reachable

        try:
            check_reachable(config.ray_address)
        except ExecutorError as error:
            fail(str(error))
    progress = Silent() if quiet else Progress()
    logger, handler = logging.getLogger("reportgen"), ToProgress(progress)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    try:
        gallery = build_with(config, progress)
    except (BuildError, SiteError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted; the cache keeps everything finished so far and the site was not touched", 130)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    line, warnings = size_summary(config.out)
    click.echo(line, err=True)
    for warning in warnings:
        click.echo(warning, err=True)
    for item in gallery.skipped:
        click.echo(str(item), err=True)
    for item in gallery.unsupported:
        click.echo(str(item), err=True)
    for failure in gallery.errors:
        click.echo(failure, err=True)
    if output == "json":
        from reportgen.interface.results import build_json

        click.echo(build_json(gallery))
    else:
        click.echo(gallery.summary())
    if gallery.errors:
        sys.exit(EXIT_FAILED)
    if gallery.skipped:
        sys.exit(EXIT_SKIPPED)


def _dry_run(config, output: str) -> None:
    """Print what the build would do; exit 0 without weights or computing."""
    from reportgen.core.dry_run import dry_run
    from reportgen.core.pipeline import BuildError
    from reportgen.interface.results import plan_json, plan_messages, plan_table

    try:
        plan = dry_run(config)
    except BuildError as error:
        fail(str(error))
    if output == "json":
        click.echo(plan_json(plan))
        return
    click.echo("\n".join(plan_table(plan)))
    for line in plan_messages(plan):
        note(line)
    click.echo(plan.summary())


@main.command(name="list", short_help="List models, techniques, a model's layers or the --set fields.", epilog="""\b
Examples:
  reportgen list models
  reportgen list layers efficientnet_lite0
  reportgen list params saliency""")
@click.argument("what", type=click.Choice(["models", "techniques", "layers", "params"]))
@click.argument("name", required=False, shell_complete=completion.list_name)
@config_option
@cache_dir_option
@click.option("--preset", type=click.Choice(PRESETS), envvar="REPORTGEN_PRESET", show_envvar=True,
              help=f"layers: the default picks of this preset [default: {default_text('preset')}].")
@verbosity
def list_(what: str, name: str | None, config_file: Path | None, cache_dir: Path | None, preset: str | None,
          quiet: bool, verbose: bool) -> None:
    """Print the valid model names or technique ids, one a line; `layers MODEL`: a model's layers
    (kind, output shape and layout, each technique's default picks); `params [TECHNIQUE]`: every
    --set field (type, choices, value per preset, meaning)."""
    if what == "layers":
        _list_layers(name, resolved_settings(config_file, cache_dir=cache_dir, preset=preset))
        return
    if what == "params":
        _list_params(name)
        return
    if name is not None:
        fail(f"`reportgen list {what}` takes no name")
    if what == "models":
        from reportgen.models import available_models

        resolved_settings(config_file)  # the config file's declared models are listed too
        names = available_models()
    else:
        from reportgen.techniques.base import registry

        names = [name for name, technique in registry().items() if technique.gallery]
    click.echo("\n".join(names))


def _list_layers(model: str | None, settings: dict) -> None:
    from reportgen.core.cache import Cache, CacheError
    from reportgen.core.choices import ParamError
    from reportgen.interface.listing import layer_lines
    from reportgen.models import ModelError, card_for
    from reportgen.techniques.base import registry

    if model is None:
        fail("`reportgen list layers` needs a model name (`reportgen list models` lists them)")
    try:  # the architecture's card: its layers are the same whatever the weights, and need no download
        cache = Cache(Path(settings["cache_dir"]))
        cache.claim()  # the card is kept there
        card = card_for(model, "random", cache)
    except (ParamError, ModelError, CacheError) as error:
        fail(str(error))
    click.echo("\n".join(layer_lines(card, registry(), settings["preset"])))


def _list_params(technique: str | None) -> None:
    from reportgen.core.choices import ParamError, check_choice
    from reportgen.interface.listing import param_lines
    from reportgen.techniques.base import registry

    techniques = registry()
    try:
        chosen = [check_choice("technique", technique, techniques)] if technique else list(techniques)
    except ParamError as error:
        fail(str(error))
    click.echo("\n".join(line for name in chosen for line in param_lines(techniques[name])))


@main.command(short_help="Prune the artifact cache (by age, size or a site), or delete it.", epilog="""\b
Examples:
  reportgen clean                           (everything reportgen wrote in the cache)
  reportgen clean --older-than 30d          (entries, cards and logs unused for 30 days)
  reportgen clean --max-size 2GB            (least recently used entries first, to 2 GB)
  reportgen clean --unused-by site          (keep only the entries site/manifest.json names)
Durations: 90s, 45m, 12h, 30d, 2w. Sizes: 500MB, 2GB, 1.5GiB (or bytes).""")
@config_option
@cache_dir_option
@click.option("--older-than", metavar="AGE", help="Remove entries (and model cards, logs) not used for AGE.")
@click.option("--max-size", metavar="SIZE", help="Remove the least recently used entries until the rest fit SIZE.")
@click.option("--unused-by", type=click.Path(path_type=Path), metavar="SITE", multiple=True,
              help="Remove the entries the gallery in SITE does not name (its manifest.json); repeatable: "
                   "keep what any of them names.")
@verbosity
def clean(config_file: Path | None, cache_dir: Path | None, older_than: str | None, max_size: str | None,
          unused_by: tuple[Path, ...], quiet: bool, verbose: bool) -> None:
    """Delete the artifact cache (only a folder reportgen created, and only what it wrote there), or
    with --older-than, --max-size or --unused-by remove only those entries (they combine)."""
    from reportgen.core.cache import Cache, CacheError
    from reportgen.core.choices import ParamError
    from reportgen.interface.housekeeping import human_size, parse_age, parse_size, site_keys

    cache_dir = Path(resolved_settings(config_file, cache_dir=cache_dir)["cache_dir"])
    cache = Cache(cache_dir)
    if older_than is None and max_size is None and not unused_by:
        try:
            removed = cache.clear()
        except CacheError as error:
            fail(str(error))
        if not removed:
            click.echo(f"no cache at {cache_dir}; nothing to remove")
        elif cache_dir.exists():
            click.echo(f"removed what reportgen wrote in {cache_dir}; kept the files it did not write")
        else:
            click.echo(f"removed {cache_dir}")
        return
    try:
        age = parse_age("--older-than", older_than) if older_than is not None else None
        size = parse_size("--max-size", max_size) if max_size is not None else None
        keep = set().union(*(site_keys(site) for site in unused_by)) if unused_by else None
        pruned = cache.prune(older_than_s=age, max_bytes=size, keep=keep)
    except (ParamError, CacheError) as error:
        fail(str(error))
    click.echo(f"removed {pruned.entries} entries ({human_size(pruned.bytes)}) from {cache_dir}")


@main.group(short_help="What the artifact cache holds.")
def cache() -> None:
    """The artifact cache: `reportgen cache info`; `reportgen clean` prunes it."""


@cache.command(name="info", short_help="Size, entries, models and the oldest and newest use of the cache.")
@config_option
@cache_dir_option
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="A few lines, or one JSON document.")
@verbosity
def cache_info(config_file: Path | None, cache_dir: Path | None, output: str, quiet: bool, verbose: bool) -> None:
    """Print the cache's size, its entries, the models they are of, and their oldest and newest use."""
    from reportgen.core.cache import Cache
    from reportgen.interface.housekeeping import info_json, info_lines, summarise

    cache_dir = Path(resolved_settings(config_file, cache_dir=cache_dir)["cache_dir"])
    summary = summarise(Cache(cache_dir))
    click.echo(info_json(summary) if output == "json" else "\n".join(info_lines(summary)))


@main.command(short_help="Compare the build with a regression baseline, or update it.")
@click.argument("baseline_dir", type=click.Path(path_type=Path))
@config_option
@out_option
@cache_dir_option
@click.option("--tolerance", "tolerances", multiple=True, metavar="NAME=VALUE",
              help=f"Repeatable; the names and their defaults: {TOLERANCES} (README, Regression checks).")
@click.option("--update", is_flag=True, help="Make the current build the baseline instead of checking it.")
@click.option("--format", "output", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True,
              help="What goes to stdout: a summary line, JSON (passed, counts, every artifact that moved, appeared "
                   "or vanished) or JUnit XML (one testcase per artifact).")
@click.option("--raw-limit", type=click.FloatRange(min=0), default=None, metavar="KB",
              help="With --update: leave out raw arrays over KB (as float16); their pictures are still checked.")
@verbosity
def check(baseline_dir: Path, config_file: Path | None, out: Path | None, cache_dir: Path | None,
          tolerances: tuple[str, ...], update: bool, output: str, raw_limit: float | None, quiet: bool,
          verbose: bool) -> None:
    """Compare the build in --out with BASELINE_DIR; exit 1 if any artifact moved, appeared or vanished
    (or lost a file, changed shape or frame count, or turned NaN), 2 if the check cannot run."""
    from reportgen.interface.api import update_baseline
    from reportgen.regress import RegressionError, check as run_check

    settings = resolved_settings(config_file, out=out, cache_dir=cache_dir)
    out, cache_dir = Path(settings["out"]), Path(settings["cache_dir"])
    try:
        tolerance = Tolerance.parse(tolerances)  # a bad flag is an error with --update too
        if update:
            count = update_baseline(baseline_dir, out=out, cache_dir=cache_dir, raw_limit_kb=raw_limit)
            click.echo(f"baseline {baseline_dir}: {count} artifacts")
            return
        outcome, report = run_check(baseline_dir, out, cache_dir, tolerance)
    except RegressionError as error:
        fail(str(error))
    if output == "text":
        for line in outcome.lines():
            click.echo(line, err=True)
        note(f"report: {report}")
        click.echo(outcome.summary())
    else:
        from reportgen.regress.machine_readable import as_json, as_junit

        click.echo(as_json(outcome, str(report)) if output == "json" else as_junit(outcome), nl=False)
        if output == "json":
            click.echo()
    if not outcome.passed:
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main(prog_name="reportgen")
