"""The ``unitrl`` command line: a thin layer over the library.

Each subcommand lives in its own module with a ``register(app)`` function.  User mistakes raise
:class:`unitrl.errors.UnitrlError`, which :func:`main` prints as one line (exit status 2), never a traceback.
"""

from __future__ import annotations

import sys

import typer

from unitrl.errors import UnitrlError

app = typer.Typer(
    name="unitrl",
    help="Mine unit-tested code tasks, train code LMs with RL from test execution, evaluate pass@k.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_all() -> None:
    from unitrl.cli import check, evaluate, mine, model, report, train

    for module in (check, mine, model, evaluate, train, report):
        module.register(app)


_register_all()


def main() -> None:
    try:
        app()
    except UnitrlError as e:
        print(f"unitrl: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("unitrl: interrupted", file=sys.stderr)
        sys.exit(130)
