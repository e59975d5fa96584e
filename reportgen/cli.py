"""Command line: a thin click group that parses, delegates and turns errors into one-line messages.

Exit codes of ``build``: 0 all went well; 1 a technique failed (the rest was built); 2 the build
could not start (bad option, unknown model, missing weights, no images); 3 the gallery was built
but some inputs were skipped (``--strict`` turns skips into exit 2 before any work).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from reportgen import __version__

EXIT_FAILED, EXIT_UNUSABLE, EXIT_SKIPPED = 1, 2, 3


def _fail(message: str, code: int = EXIT_UNUSABLE) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reportgen")
def main() -> None:
    """Explain convolutional networks in pictures: every classic visualisation, as a static gallery."""


@main.command()
@click.argument("input_dir", type=click.Path(path_type=Path))
@click.option("--models", default=None, help="Comma-separated model names (default: the embedded efficientnet_lite0).")
@click.option("--techniques", default=None, help="Comma-separated technique ids (default: all).")
@click.option("--out", default="site", show_default=True, type=click.Path(path_type=Path), help="Gallery folder.")
@click.option("--cache-dir", default=".reportgen-cache", show_default=True, type=click.Path(path_type=Path))
@click.option("--preset", default="standard", show_default=True, help="quick, standard or full.")
@click.option("--set", "settings", multiple=True, metavar="TECHNIQUE.PARAM=VALUE", help="Override a parameter (repeatable).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--weights", default="pretrained", show_default=True, help="pretrained or random (untrained).")
@click.option("--strict", is_flag=True, help="Stop before any work if an input cannot be read.")
def build(input_dir, models, techniques, out, cache_dir, preset, settings, device, weights, strict) -> None:
    """Run every technique over INPUT_DIR's images and write the gallery."""
    from reportgen.config import BuildConfig, check_preset, choose_techniques, parse_overrides, split_names
    from reportgen.choices import WEIGHTS, ParamError, check_choice
    from reportgen.models import DEFAULT_MODEL
    from reportgen.pipeline import BuildError, build as run_build
    from reportgen.progress import Progress
    from reportgen.site import SiteError, check_out_folder, size_summary, write_site
    from reportgen.techniques.base import registry

    try:
        available = registry()
        check_choice("weights", weights, WEIGHTS)
        config = BuildConfig(
            input_dir=input_dir,
            models=split_names(models) or (DEFAULT_MODEL,),
            techniques=choose_techniques(techniques, available),
            out=out,
            cache_dir=cache_dir,
            preset=check_preset(preset),
            overrides=parse_overrides(settings, available),
            device=device,
            weights=weights,
            strict=strict,
        )
        check_out_folder(out)
    except (ParamError, SiteError) as error:
        _fail(str(error))
    progress = Progress()
    try:
        report = run_build(config, progress)
        write_site(report.manifest, config.cache_dir, report.images, config.out)
    except (BuildError, SiteError) as error:
        progress.close()
        _fail(str(error))
    except KeyboardInterrupt:
        progress.close()
        _fail("interrupted; the cache keeps everything finished so far and the site was not touched", 130)
    progress.close()
    line, warnings = size_summary(config.out)
    click.echo(line, err=True)
    for warning in warnings:
        click.echo(warning, err=True)
    for item in report.skipped:
        click.echo(str(item), err=True)
    for item in report.unsupported:
        click.echo(str(item), err=True)
    for error in report.errors:
        click.echo(error, err=True)
    click.echo(report.summary())
    if report.errors:
        sys.exit(EXIT_FAILED)
    if report.skipped:
        sys.exit(EXIT_SKIPPED)


@main.command(name="list")
@click.argument("what", type=click.Choice(["models", "techniques"]))
def list_(what: str) -> None:
    """Print the valid model names or technique ids, one a line."""
    if what == "models":
        from reportgen.models import available_models

        names = available_models()
    else:
        from reportgen.techniques.base import registry

        names = [name for name, technique in registry().items() if technique.gallery]
    click.echo("\n".join(names))


@main.command()
@click.option("--cache-dir", default=".reportgen-cache", show_default=True, type=click.Path(path_type=Path))
def clean(cache_dir: Path) -> None:
    """Delete the artifact cache."""
    from reportgen.cache import Cache

    Cache(cache_dir).clear()
    click.echo(f"removed {cache_dir}")


@main.command()
@click.argument("baseline_dir", type=click.Path(path_type=Path))
@click.option("--out", default="site", show_default=True, type=click.Path(path_type=Path), help="The build's gallery folder.")
@click.option("--cache-dir", default=".reportgen-cache", show_default=True, type=click.Path(path_type=Path), help="The build's cache (raw arrays).")
@click.option("--tolerance", "tolerances", multiple=True, metavar="NAME=VALUE",
              help="pixel=LEVELS (default 8), animation=LEVELS (32, GIF frames), pixels=FRACTION (0.005) "
                   "or raw=RELATIVE (0.05); repeatable.")
@click.option("--update", is_flag=True, help="Make the current build the baseline instead of checking it.")
@click.option("--raw-limit", type=click.FloatRange(min=0), default=None, metavar="KB",
              help="With --update: leave out raw arrays over KB (as float16); their pictures are still checked.")
def check(baseline_dir: Path, out: Path, cache_dir: Path, tolerances: tuple[str, ...], update: bool,
          raw_limit: float | None) -> None:
    """Compare the build in --out with BASELINE_DIR; exit 1 if any artifact moved, appeared or vanished."""
    from reportgen.regress import RegressionError, Tolerance, check as run_check, promote

    try:
        if update:
            count = promote(baseline_dir, out, cache_dir, raw_limit)
            click.echo(f"baseline {baseline_dir}: {count} artifacts")
            return
        outcome, report = run_check(baseline_dir, out, cache_dir, Tolerance.parse(tolerances))
    except RegressionError as error:
        _fail(str(error))
    for line in outcome.lines():
        click.echo(line, err=True)
    click.echo(f"report: {report}", err=True)
    click.echo(outcome.summary())
    if not outcome.passed:
        sys.exit(EXIT_FAILED)
