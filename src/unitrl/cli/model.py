"""Placeholder until this subcommand lands (being written in parallel); registers nothing."""

import typer


def register(app: typer.Typer) -> None:
    return None
