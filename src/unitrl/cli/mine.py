"""``unitrl mine``: mine unit-tested tasks from Python source into a task JSONL file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from unitrl.errors import UnitrlError


def _done_file(out: Path) -> Path:
    """The sidecar listing every source file finished, tasks or not (``TASKS.jsonl.done``)."""
    return out.with_name(out.name + ".done")


def _stats_file(out: Path) -> Path:
    """The sidecar with the summed statistics of every finished file (``TASKS.jsonl.stats.json``)."""
    return out.with_name(out.name + ".stats.json")


def _read_stats(out: Path) -> Any:
    from unitrl.datagen.pipeline import MineStats

    path = _stats_file(out)
    if not path.is_file():
        return MineStats(files=0)
    try:
        return MineStats.from_state(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, AttributeError):
        raise UnitrlError(
            f"{path}: not a statistics file written by unitrl mine; delete it to start over"
        ) from None


def _resume_state(out: Path) -> tuple[set[str], set[str]]:
    """``(finished source labels, task ids already written)`` of an earlier run into ``out``.

    A file counts as finished when the ``.done`` sidecar lists it (which also covers files that gave no
    task).  Output written without a sidecar falls back to the paths in the tasks' ``meta.path``.  A file
    cut short (a kill, or ``--limit-functions`` reached inside it) is not finished: it is mined again on
    resume and the tasks it already gave are not written twice.
    """
    from unitrl.io import read_jsonl

    if out.is_dir():
        raise UnitrlError(f"{out}: is a folder; --out must be a .jsonl file")
    records = [record for _, record in read_jsonl(out)] if out.exists() else []
    ids = {str(r.get("task_id")) for r in records}
    sidecar = _done_file(out)
    if sidecar.exists():
        done = {line for line in sidecar.read_text(encoding="utf-8").splitlines() if line}
    else:
        done = {str(r["meta"].get("path")) for r in records if isinstance(r.get("meta"), dict)}
    return done, ids


def mine(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Task JSONL to append to; files already mined (see OUT.done) are skipped."
        ),
    ],
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SOURCE...",
            help=(
                "Python files, folders (searched recursively), 'stdlib', wheels/sdists (.whl, .tar.gz, "
                ".zip; read without extracting), pypi:NAME[==VERSION] (downloaded with pip, never "
                "installed), or JSONL corpora of {path, content} records."
            ),
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Parallel sandboxed workers (default: all cores).")
    ] = None,
    max_tests: Annotated[int, typer.Option("--max-tests", help="Most asserts per task.")] = 10,
    threshold: Annotated[
        float, typer.Option(help="Lowest mutation score a task's suite may have to be kept.")
    ] = 0.8,
    limit_functions: Annotated[
        int | None, typer.Option("--limit-functions", help="Stop after mining this many selected functions.")
    ] = None,
    inputs: Annotated[int, typer.Option("--inputs", help="Generated inputs per function.")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the input generator (same seed, same tasks).")] = 0,
    sandbox: Annotated[str, typer.Option(help="auto | bwrap | none")] = "auto",
    dedup: Annotated[
        bool,
        typer.Option("--dedup/--no-dedup", help="Drop functions equal to one mined earlier (up to names)."),
    ] = True,
    decontaminate: Annotated[
        bool,
        typer.Option(
            "--decontaminate/--no-decontaminate",
            help="Drop tasks matching MBPP/HumanEval solutions or overlapping their text.",
        ),
    ] = True,
    contamination_threshold: Annotated[
        float,
        typer.Option(
            "--contamination-threshold",
            help="Word 5-gram Jaccard similarity with a benchmark task at which a task counts as contaminated.",
        ),
    ] = 0.5,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Spread the files over a Ray cluster (needs the ray extra); --workers is then per task.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to join (HOST:PORT, ray://HOST:PORT, auto, local); default: RAY_ADDRESS, "
            "else a Ray already running here, else a new local one.",
        ),
    ] = None,
    ray_cpus_per_task: Annotated[
        float, typer.Option("--ray-cpus-per-task", help="CPUs each Ray task reserves (with --ray).")
    ] = 1.0,
    stats_only: Annotated[
        bool,
        typer.Option(
            "--stats",
            help="Print the statistics of everything mined into --out so far (OUT.stats.json) and exit.",
        ),
    ] = False,
) -> None:
    """Turn self-contained functions into tasks whose generated tests kill most mutants of the reference."""
    from unitrl.datagen.pipeline import MineConfig, MineStats, make_screen, mine_paths
    from unitrl.datagen.sources import Source, check_sources
    from unitrl.execution import ExecutionConfig
    from unitrl.io import append_jsonl, atomic_write_text
    from unitrl.tasks import Task

    if sandbox not in ("auto", "bwrap", "none"):
        raise UnitrlError(f"--sandbox must be auto, bwrap or none, not {sandbox!r}")
    if max_tests < 1:
        raise UnitrlError(f"--max-tests must be at least 1, got {max_tests}")
    if not 0.0 <= threshold <= 1.0:
        raise UnitrlError(f"--threshold must be between 0 and 1, got {threshold}")
    if limit_functions is not None and limit_functions < 1:
        raise UnitrlError(f"--limit-functions must be at least 1, got {limit_functions}")
    if inputs < 1:
        raise UnitrlError(f"--inputs must be at least 1, got {inputs}")
    if not 0.0 < contamination_threshold <= 1.0:
        raise UnitrlError(f"--contamination-threshold must be in (0, 1], got {contamination_threshold}")
    if workers is not None and workers < 1:
        raise UnitrlError(f"--workers must be at least 1, got {workers}")
    if out.suffix != ".jsonl":
        raise UnitrlError(f"{out}: --out must end in .jsonl")
    if stats_only:
        if not _stats_file(out).is_file():
            raise UnitrlError(
                f"no statistics for {out} yet ({_stats_file(out)} is missing); mine into it first"
            )
        summary = _read_stats(out)
        typer.echo(summary.line() + f" -> {out}")
        typer.echo(json.dumps(summary.to_dict()), err=True)
        return
    if not sources:
        raise UnitrlError(
            "give at least one SOURCE to mine (a folder, .py file, stdlib, archive or pypi:NAME)"
        )
    if ray:
        from unitrl.datagen.distributed import require_ray

        require_ray()  # one line saying how to install it, before anything is written
        if ray_cpus_per_task <= 0:
            raise UnitrlError(f"--ray-cpus-per-task must be positive, got {ray_cpus_per_task}")
    check_sources(sources)  # bad paths fail now, before any download or worker
    done, written = _resume_state(out)
    cumulative = _read_stats(out)  # every finished file of this and earlier runs into --out
    out.parent.mkdir(parents=True, exist_ok=True)
    _done_file(out).touch()  # from now on the sidecar, not meta.path, says which files are finished
    config = MineConfig(
        max_tests=max_tests,
        min_tests=min(5, max_tests),
        threshold=threshold,
        n_inputs=inputs,
        seed=seed,
        limit_functions=limit_functions,
        dedup=dedup,
        decontaminate=decontaminate,
        contamination_threshold=contamination_threshold,
    )
    screen = make_screen(config)
    if screen is not None and out.exists():
        from unitrl.io import read_jsonl
        from unitrl.tasks import task_from_dict

        # a resumed run: copies of tasks from finished files are duplicates too (unfinished files are mined
        # again, so their tasks are met again and must not count as copies of themselves)
        earlier = (task_from_dict(r, f"{out}:{n}") for n, r in read_jsonl(out))
        screen.remember(t for t in earlier if str(t.meta.get("path")) in done)
    exec_config = ExecutionConfig(workers=workers, sandbox=sandbox)  # type: ignore[arg-type]

    def on_task(task: Task) -> None:
        if task.task_id not in written:
            append_jsonl(out, task.to_dict())
            written.add(task.task_id)

    def on_file(label: str, stats: MineStats) -> None:
        if stats.complete:
            cumulative.add(stats)
            atomic_write_text(_stats_file(out), json.dumps(cumulative.state()) + "\n")
            with open(_done_file(out), "a", encoding="utf-8") as f:
                f.write(label + "\n")
        typer.echo(
            f"{label}: {stats.functions_seen} functions, {stats.tasks_kept} tasks "
            f"(so far: {cumulative.tasks_kept} tasks from {cumulative.functions_seen} functions)",
            err=True,
        )

    described: list[str] = []

    def on_source(source: Source) -> None:
        described.append(source.describe())
        typer.echo(f"source {described[-1]}", err=True)

    run = mine_paths
    if ray:
        from functools import partial

        from unitrl.datagen.distributed import mine_paths_ray

        run = partial(mine_paths_ray, address=ray_address, cpus_per_task=ray_cpus_per_task)
    _, total = run(
        sources,
        config,
        exec_config,
        on_task=on_task,
        on_file=on_file,
        skip=lambda label: label in done,
        screen=screen,
        on_source=on_source,
    )
    skipped = f" ({len(done)} files already in {out} skipped)" if done else ""
    typer.echo(f"sources: {'; '.join(described)}")
    typer.echo(total.line() + skipped + f" -> {out}")
    if done:
        typer.echo(f"all of {out} (unitrl mine --stats --out {out}): {cumulative.line()}")
    typer.echo(json.dumps(total.to_dict()), err=True)


def register(app: typer.Typer) -> None:
    app.command("mine")(mine)
