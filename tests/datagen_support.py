"""Fixtures the data-generation tests share: a small minable function and a Typer app with ``mine``."""

from __future__ import annotations

import typer

#: A self-contained function with a branch, the miner's standard test subject.
CLAMP = '''
def clamp_sum(xs: list[int], limit: int = 10) -> int:
    """Sum the items of xs, each clipped to at most limit."""
    total = 0
    for x in xs:
        if x > limit:
            total += limit
        else:
            total += x
    return total
'''


def mine_app(**typer_kwargs) -> typer.Typer:
    """A Typer app with ``unitrl mine`` registered (and a second command, so typer keeps the subcommand)."""
    from unitrl.cli.mine import register

    app = typer.Typer(**typer_kwargs)
    register(app)

    @app.command("other")
    def other() -> None:
        pass

    return app
