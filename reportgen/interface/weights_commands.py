"""``reportgen weights``: list which models' weights are present, or download them ahead of a build
(each checked against the hash in its name)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from reportgen.interface import completion
from reportgen.interface.config import default
from reportgen.interface.options import EXIT_UNUSABLE, config_option, fail, note, resolved_settings, verbosity


@click.group(short_help="Download pretrained weights ahead of time, or list them.")
def weights() -> None:
    """Pretrained torchvision weights in $TORCH_HOME/hub/checkpoints (for builds without a network)."""


@weights.command(name="list", short_help="Show which models' weights are present.")
@click.argument("models", required=False, shell_complete=completion.models)
@verbosity
def weights_list(models: str | None, quiet: bool, verbose: bool) -> None:
    """Show which models' weights are present (all torchvision classifiers, or MODELS a,b)."""
    from reportgen.interface.config import split_names
    from reportgen.models import available_models, checkpoints_dir, is_embedded
    from reportgen.models.weights import checkpoint_for

    names = split_names(models) or available_models()
    _check_models(names)
    note(f"# {checkpoints_dir()}")
    for name in names:
        if is_embedded(name):
            click.echo(f"embedded  {name}")
            continue
        checkpoint = checkpoint_for(name)
        if checkpoint is None:
            click.echo(f"none      {name}")
        else:
            click.echo(f"{'present' if checkpoint.present else 'missing':9} {name:20} {checkpoint.path.name}")


@weights.command(name="fetch", short_help="Download models' weights, each checked against its hash.")
@click.argument("models", required=False, envvar="REPORTGEN_MODELS", shell_complete=completion.models)
@config_option
@verbosity
def weights_fetch(models: str | None, config_file: Path | None, quiet: bool, verbose: bool) -> None:
    """Download MODELS' (a,b) weights ahead of time, each checked against the hash in its name
    [default: the configured models]."""
    from reportgen.interface.config import split_names
    from reportgen.models import is_embedded
    from reportgen.models.weights import WeightsError, checkpoint_for, fetch

    names = split_names(resolved_settings(config_file, models=models)["models"]) or default("models")
    _check_models(names)
    failed = 0
    for name in names:
        checkpoint = None if is_embedded(name) else checkpoint_for(name)
        if checkpoint is None:
            click.echo(f"{name}: nothing to download ({'embedded' if is_embedded(name) else 'no pretrained weights'})")
            continue
        was_there = checkpoint.present
        try:
            path = fetch(checkpoint, progress=not was_there and not quiet and sys.stderr.isatty())
        except WeightsError as error:
            click.echo(f"error: {error}", err=True)
            failed += 1
            continue
        click.echo(f"{name}: {'already present' if was_there else 'downloaded'} {path}")
    if failed:
        sys.exit(EXIT_UNUSABLE)


def _check_models(names) -> None:
    from reportgen.core.choices import ParamError
    from reportgen.models import check_name

    try:
        for name in names:
            check_name(name)
    except ParamError as error:
        fail(str(error))
