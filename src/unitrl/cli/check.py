"""``unitrl check``: run completions against task tests in the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from unitrl.checking import check_completions, load_completions
from unitrl.errors import UnitrlError
from unitrl.execution import ExecutionConfig
from unitrl.io import write_jsonl
from unitrl.tasks import load_tasks


def check(
    tasks: Annotated[Path, typer.Option("--tasks", help="Task JSONL file (the unitrl task format).")],
    completions: Annotated[
        Path, typer.Option("--completions", help='JSONL of {"task_id", "completion", "sample_id"?}.')
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write one result line per completion.")],
    workers: Annotated[
        int | None, typer.Option(help="Parallel sandboxed workers (default: all cores).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Wall-clock seconds per program (all its tests).")] = 10.0,
    memory_mb: Annotated[int, typer.Option(help="Address-space limit per program, MiB.")] = 2048,
    sandbox: Annotated[str, typer.Option(help="auto | bwrap | none")] = "auto",
) -> None:
    """Run each completion (full source defining the entry point) against its task's tests."""
    if sandbox not in ("auto", "bwrap", "none"):
        raise UnitrlError(f"--sandbox must be auto, bwrap or none, not {sandbox!r}")
    if timeout <= 0:
        raise UnitrlError(f"--timeout must be positive, got {timeout}")
    task_map = {t.task_id: t for t in load_tasks(tasks)}
    items = load_completions(completions, task_map)
    config = ExecutionConfig(timeout=timeout, workers=workers, memory_mb=memory_mb, sandbox=sandbox)  # type: ignore[arg-type]
    with Progress(
        TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as progress:
        bar = progress.add_task("check", total=len(items))
        rows, summary = check_completions(task_map, items, config, lambda i, r: progress.advance(bar))
    write_jsonl(out, rows)
    typer.echo(summary.line() + f" -> {out}")


def register(app: typer.Typer) -> None:
    app.command("check")(check)
