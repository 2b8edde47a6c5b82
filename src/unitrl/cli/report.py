"""``unitrl report``: training curves (PNG) and a comparison table (Markdown) from run directories.

Thin: the work is :func:`unitrl.reporting.write_report`; this parses the flags and prints the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_command(
    runs: Annotated[
        list[Path],
        typer.Argument(
            metavar="DIR...",
            help="Run directories written by `unitrl train --out` (and/or `unitrl eval --out` directories).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Report directory (default: report/ next to the first run)."),
    ] = None,
    smooth: Annotated[
        int, typer.Option("--smooth", help="Moving-average window of the curves, in steps (1 = raw).")
    ] = 5,
    last: Annotated[
        int, typer.Option("--last", help="Final reward / pass rate = mean over this many last steps.")
    ] = 10,
) -> None:
    """Render curves and a comparison table (curves.png, report.md, report.json) from one or more runs."""
    from unitrl.reporting import default_out_dir, write_report

    target = out if out is not None else default_out_dir(runs[0])
    report = write_report(runs, target, smooth=smooth, last=last)
    typer.echo(report.tables, nl=False)
    wrote = [report.out / "report.md", report.out / "report.json"]
    if report.curves is not None:
        wrote.insert(0, report.curves)
    typer.echo(f"\nwrote {', '.join(str(p) for p in wrote)}", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
