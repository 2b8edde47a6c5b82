"""``unitrl eval``: pass@k of a model (or of the reference solutions) on a benchmark or task file.

Thin: parses flags into an :class:`~unitrl.evaluation.runner.EvalConfig`, loads the tasks, calls
:func:`~unitrl.evaluation.runner.evaluate` and prints its summary.  Heavy imports happen inside the command
so that ``unitrl --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from unitrl.errors import UnitrlError

#: Temperature when -n > 1 and none is given: greedy samples would all be identical.
SAMPLING_TEMPERATURE = 0.8


def eval_command(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model alias (see `unitrl model list`), checkpoint dir, .gguf file, or 'reference' to score the "
            "tasks' reference solutions.",
        ),
    ],
    benchmark: Annotated[
        str,
        typer.Option(
            "--benchmark", "-b", help="mbpp, mbpp-sanitized, humaneval, humaneval+, or a task .jsonl file."
        ),
    ],
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Benchmark split (default: test for a named benchmark, every task of a task file).",
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Samples per task.")] = 1,
    k: Annotated[
        str, typer.Option("-k", help="Comma-separated k values for pass@k, each <= n (e.g. 1,10).")
    ] = "1",
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature",
            "-t",
            help=f"Sampling temperature; 0 = greedy.  Default: 0 for -n 1, {SAMPLING_TEMPERATURE} otherwise.",
        ),
    ] = None,
    top_p: Annotated[
        float, typer.Option("--top-p", help="Nucleus sampling threshold (ignored when greedy).")
    ] = 0.95,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Most tokens generated per sample.")
    ] = 512,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Sequences per generation batch.")] = 16,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate only the first N tasks.")] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Sampling seed (same seed and settings -> same samples).")
    ] = 0,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Parallel sandbox workers (default: one per core).")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds one sample may run against all its tests (default: 60 for humaneval+, whose "
            "~750 inputs per task take the reference up to ~9 s; 10 otherwise).",
        ),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype",
            help="Weights dtype: float32 (CPU default), bfloat16 (GPU default; ~3x faster on CPUs with "
            "AVX512-BF16), float16, or auto (the checkpoint's own).",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads", help="torch CPU threads (default: torch's choice; 1 is often faster on 2 cores)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output dir for samples.jsonl and summary.json (default: runs/eval/<model>-<benchmark>-<hash>).  "
            "Rerunning with the same dir and settings resumes.",
        ),
    ] = None,
    prompt_format: Annotated[
        str,
        typer.Option(
            "--prompt-format", help="auto (chat if the tokenizer has a chat template), chat or completion."
        ),
    ] = "auto",
    device: Annotated[
        str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    ] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Generate solutions for benchmark tasks, run them against the tests and report pass@k."""
    from rich.console import Console

    from unitrl.evaluation.passk import parse_ks
    from unitrl.evaluation.runner import (
        REFERENCE,
        EvalConfig,
        default_out_dir,
        evaluate,
        run_fingerprint,
        summary_table,
    )

    try:
        ks = parse_ks(k)
    except ValueError as e:
        raise UnitrlError(f"-k: {e}") from None
    if limit is not None and limit < 1:
        raise UnitrlError(f"--limit must be at least 1, got {limit}")
    if temperature is None:
        temperature = 0.0 if samples == 1 else SAMPLING_TEMPERATURE
    if timeout is None:
        timeout = 60.0 if benchmark.lower() in ("humaneval+", "humanevalplus", "humaneval-plus") else 10.0
    if threads is not None:
        if threads < 1:
            raise UnitrlError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    config = EvalConfig(
        benchmark=benchmark,
        split=split,
        n=samples,
        ks=ks,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        seed=seed,
        workers=workers,
        timeout=timeout,
        prompt_format=prompt_format,  # type: ignore[arg-type]  # validated by EvalConfig.validate
        device=device,
        dtype=dtype,
        progress=progress,
    )
    config.validate(reference=model == REFERENCE)  # fail on bad flags before loading anything

    from unitrl.benchmarks import load_benchmark

    if split is None and not _is_task_file(benchmark):
        split = "test"  # MBPP's other splits hold training and few-shot tasks; scores are on the test split
        config.split = split
    tasks = load_benchmark(benchmark, split=split)
    if limit is not None:
        tasks = tasks[:limit]
    config.out = out if out is not None else default_out_dir(model, benchmark, run_fingerprint(model, config))
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    if temperature == 0 and samples > 1 and model != REFERENCE:
        err.print(f"note: greedy decoding (temperature 0) gives {samples} identical samples per task")
    summary = evaluate(model, tasks, config, log=err.print)
    Console().print(summary_table(summary))
    err.print(f"wrote {config.out / 'samples.jsonl'} and {config.out / 'summary.json'}")


def _is_task_file(benchmark: str) -> bool:
    """A task file rather than a benchmark name (the same test as ``load_benchmark``)."""
    return (
        os.path.isfile(benchmark)
        or benchmark.endswith((".jsonl", ".json", ".jsonl.gz"))
        or os.sep in benchmark
    )


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
