"""What the commands share: the options every command takes the same way (config, cache, out,
weights, -q / -v, each with its environment variable), the settings they resolve, and the one-line
errors and notes on stderr."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

from reportgen.core.choices import WEIGHTS
from reportgen.interface.config import CONFIG_FILE, default_text

EXIT_FAILED, EXIT_UNUSABLE, EXIT_SKIPPED = 1, 2, 3


def fail(message: str, code: int = EXIT_UNUSABLE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def note(message: str) -> None:
    """A message for a person on stderr, dropped with -q."""
    if not click.get_current_context().meta.get("reportgen.quiet"):
        click.echo(message, err=True)


def verbosity(command):
    """-q / -v on a command: with -q only errors and the result, with -v also the ``reportgen``
    logger's information (what was found, what was done), on stderr for the command's run."""
    def chosen(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta[f"reportgen.{param.name}"] = value
        if ctx.meta.get("reportgen.quiet") and ctx.meta.get("reportgen.verbose"):
            raise click.UsageError("-q and -v exclude each other")
        if param.name == "quiet" and not ctx.resilient_parsing:  # once per command
            _log_to_stderr(ctx)
        return value

    command = click.option("-v", "--verbose", is_flag=True, callback=chosen, is_eager=True,
                           help="Also say what was found and done.")(command)
    return click.option("-q", "--quiet", is_flag=True, callback=chosen, is_eager=True,
                        help="Only errors and the result (no progress or notes).")(command)


def _log_to_stderr(ctx: click.Context) -> None:
    """The ``reportgen`` logger's messages on stderr at the -q / -v level, until the command ends
    (``build`` shows them through its progress instead)."""
    if ctx.command.name == "build":
        return
    logger = logging.getLogger("reportgen")
    handler, level = logging.StreamHandler(sys.stderr), logger.level
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(lambda record: record.levelno >= _level(ctx))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    ctx.call_on_close(restore)


def _level(ctx: click.Context) -> int:
    return (logging.ERROR if ctx.meta.get("reportgen.quiet") else
            logging.INFO if ctx.meta.get("reportgen.verbose") else logging.WARNING)


def config_option(command):
    return click.option("--config", "config_file", type=click.Path(path_type=Path), envvar="REPORTGEN_CONFIG",
                        show_envvar=True,
                        help=f"Config file [default: ./{CONFIG_FILE}, or [tool.reportgen] in ./pyproject.toml].")(command)


def cache_dir_option(command):
    return click.option("--cache-dir", type=click.Path(path_type=Path), envvar="REPORTGEN_CACHE_DIR", show_envvar=True,
                        help=f"Artifact cache [default: {default_text('cache_dir')}].")(command)


def out_option(command):
    return click.option("--out", type=click.Path(path_type=Path), envvar="REPORTGEN_OUT", show_envvar=True,
                        help=f"Gallery folder [default: {default_text('out')}].")(command)


def weights_option(command):
    return click.option("--weights", type=click.Choice(WEIGHTS), envvar="REPORTGEN_WEIGHTS", show_envvar=True,
                        help=f"random = untrained, seeded weights [default: {default_text('weights')}].")(command)


def resolved_settings(config_file: Path | None, **given) -> dict:
    """The settings a command needs, resolved as every command resolves them (config.SETTINGS_ORDER)."""
    from reportgen.core.choices import ParamError
    from reportgen.interface.config import settings_for

    try:
        return settings_for(config_file, **given)
    except ParamError as error:
        fail(str(error))
