"""The ``hilctl`` command line: one group, one module per command under ``hilctl.commands``.

Every ``HilctlError`` (a user's mistake or an instrument's fault) ends as one line on stderr
and a non-zero exit; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import click

from drivers import HilctlError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hilctl")
def cli() -> None:
    """Program memristor crossbar arrays, simulated or real."""


def _register() -> None:
    from hilctl.commands import data, device, infer, program, train

    for command in (program.program, data.data, device.device, train.train, infer.infer):
        cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        cli.main(args=argv, prog_name="hilctl", standalone_mode=False)
    except HilctlError as exc:
        click.echo(f"hilctl: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("hilctl: interrupted; outputs are off", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hilctl: interrupted; outputs are off", err=True)
        sys.exit(130)
