"""``evaluate``: sample programs for benchmark tasks, run them against the tests, report pass@k.

The pipeline works in chunks of tasks (a few generation batches each).  While chunk ``i+1`` is generated,
chunk ``i`` runs in the sandbox on a background thread, so the accelerator does not wait for the tests.
Rows are appended to ``samples.jsonl`` as soon as all samples of a task are judged, which makes a run
resumable: a rerun with the same ``--out`` and the same generation settings skips the (task, sample) pairs
already there and generates only the rest (e.g. after a crash, or with a larger ``-n`` or ``--limit``).

``config.json`` in the output directory records the settings that determine the samples (model, benchmark,
sampling, prompt format, time limit); resuming with different ones is refused with a message naming the
difference, because mixing samples from two settings would silently corrupt pass@k.

``--model reference`` scores each task's reference solution instead of a model: it must give pass@1 = 1.0,
which validates a benchmark conversion and the executor together.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from unitrl.errors import UnitrlError
from unitrl.evaluation.passk import count_correct, pass_at_ks
from unitrl.execution import ExecutionConfig, SampleResult
from unitrl.io import atomic_write_text
from unitrl.tasks import Task

REFERENCE = "reference"
SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.json"
#: Settings that decide what the samples are; a resumed run must match them all.
FINGERPRINT_KEYS = (
    "model",
    "benchmark",
    "split",
    "temperature",
    "top_p",
    "max_new_tokens",
    "seed",
    "prompt_format",
    "timeout",
    "dtype",
)
_ERROR_CHARS = 500


@dataclass
class EvalConfig:
    """Everything about an evaluation run except the model and the tasks."""

    #: Benchmark name or task file, recorded in the summary (the tasks themselves are passed in).
    benchmark: str = ""
    split: str | None = None
    #: Samples per task.
    n: int = 1
    ks: list[int] = field(default_factory=lambda: [1])
    #: 0 = greedy decoding.
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    #: Sequences per generation batch.
    batch_size: int = 16
    seed: int = 0
    #: Sandbox workers (``None`` = one per core) and per-sample time limit, seconds.
    workers: int | None = None
    timeout: float = 10.0
    #: Directory for samples.jsonl / summary.json / config.json; ``None`` keeps everything in memory.
    out: Path | None = None
    #: ``auto`` = chat when the tokenizer has a chat template, else completion.
    prompt_format: Literal["auto", "chat", "completion"] = "auto"
    #: ``auto`` = cuda when available, else cpu.
    device: str = "auto"
    #: Model weights dtype: ``None`` = float32 on CPU, bfloat16 on a GPU; ``bfloat16`` is ~3x faster on CPUs
    #: with AVX512-BF16/AMX.  Part of the run's fingerprint (it can change greedy outputs).
    dtype: str | None = None
    #: Show rich progress bars (on stderr).
    progress: bool = True
    #: Extra executor settings (memory limit, sandbox mode ...); ``timeout``/``workers`` above take precedence.
    execution: ExecutionConfig | None = None

    def validate(self, reference: bool = False) -> None:
        """Raise a one-line :class:`UnitrlError` for values that cannot work."""
        if self.n < 1:
            raise UnitrlError(f"-n must be at least 1, got {self.n}")
        if not self.ks or min(self.ks) < 1:
            raise UnitrlError(f"-k values must be >= 1, got {self.ks}")
        n = 1 if reference else self.n
        if max(self.ks) > n:
            k = max(self.ks)
            hint = (
                "the reference solution is one sample per task; use -k 1"
                if reference
                else f"pass -n {k} or more, or drop k={k}"
            )
            raise UnitrlError(
                f"-k {k} is larger than -n {n}: pass@{k} needs at least {k} samples per task ({hint})"
            )
        if self.temperature < 0:
            raise UnitrlError(f"--temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UnitrlError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise UnitrlError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise UnitrlError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.timeout <= 0:
            raise UnitrlError(f"--timeout must be positive, got {self.timeout}")
        if self.workers is not None and self.workers < 1:
            raise UnitrlError(f"--workers must be at least 1, got {self.workers}")
        if self.prompt_format not in ("auto", "chat", "completion"):
            raise UnitrlError(f"--prompt-format must be auto, chat or completion, got {self.prompt_format!r}")


@dataclass
class EvalSummary:
    """What ``summary.json`` holds and the CLI prints."""

    model: str
    benchmark: str
    split: str | None
    n: int
    ks: list[int]
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int
    prompt_format: str
    tasks: int
    samples: int
    #: ``{"pass@1": 0.42, ...}``; ``None`` when no task had k samples.
    pass_at_k: dict[str, float | None]
    #: Sample counts by executor outcome (pass, fail, syntax_error, ...).
    outcomes: dict[str, int]
    #: Generation/execution speed of this invocation (resumed samples are not re-timed).
    timings: dict[str, float]
    #: Tasks left out of pass@k because they had fewer than k samples, by k.
    skipped: dict[str, int] = field(default_factory=dict)
    #: ``{task_id: [n, correct]}``, to see which tasks are solved without reading samples.jsonl.
    per_task: dict[str, list[int]] = field(default_factory=dict)
    out: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------- output files


def run_fingerprint(model: str, config: EvalConfig) -> dict[str, Any]:
    """The settings a resumed run must share with the samples already on disk (``config.json``)."""
    values = {**asdict(config), "model": model}
    fingerprint = {k: values[k] for k in FINGERPRINT_KEYS}
    if model == REFERENCE:  # no sampling: only the tasks and the time limit matter
        fingerprint.update(temperature=0.0, top_p=1.0, max_new_tokens=0, seed=0, prompt_format="reference")
    return fingerprint


def default_out_dir(
    model: str, benchmark: str, fingerprint: dict[str, Any], root: str | os.PathLike[str] = "runs/eval"
) -> Path:
    """``runs/eval/<model>-<benchmark>-<hash>``: the same settings resume in place, others get a new dir."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:8]

    def slug(s: str) -> str:
        s = Path(s.rstrip("/")).name or s  # a path: its last part (hub ids keep their dots)
        s = re.sub(r"\.(jsonl|json|jsonl\.gz|gguf)$", "", s)
        return re.sub(r"[^A-Za-z0-9._+-]+", "_", s).strip("_") or "x"

    return Path(root) / f"{slug(model)}-{slug(benchmark)}-{digest}"


def _describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    diffs = [f"{k}={old.get(k)!r} (now {new.get(k)!r})" for k in FINGERPRINT_KEYS if old.get(k) != new.get(k)]
    return ", ".join(diffs)


def load_existing(out: Path, fingerprint: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows already in ``out/samples.jsonl`` from the same settings; refuses rows from other settings.

    A torn last line (the process was killed mid-write) is dropped and the file rewritten without it, so
    that new rows are not appended to half a line.
    """
    samples, config_path = out / SAMPLES_FILE, out / CONFIG_FILE
    if config_path.is_file():
        try:
            old = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UnitrlError(f"{config_path}: not valid JSON; delete {out} or pass another --out") from None
        if {k: old.get(k) for k in FINGERPRINT_KEYS} != fingerprint:
            raise UnitrlError(
                f"{out} holds samples from other settings: {_describe_difference(old, fingerprint)}; "
                "pass another --out (or delete it) to evaluate with the new settings"
            )
    elif samples.is_file() and samples.stat().st_size > 0:
        raise UnitrlError(
            f"{samples} exists but {config_path} does not; pass another --out or delete {samples}"
        )
    if not samples.is_file():
        return []
    rows: list[dict[str, Any]] = []
    lines = samples.read_text(encoding="utf-8").splitlines()
    torn = False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                torn = True
                break
            raise UnitrlError(
                f"{samples}:{i + 1}: invalid JSON; delete the line or the file to resume"
            ) from None
        if isinstance(row, dict) and "task_id" in row and "sample_id" in row:
            rows.append(row)
    if torn:
        atomic_write_text(samples, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows


def _append_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append a task's rows in one write + fsync (a kill loses at most the task being written)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------------------------------------ the run


@dataclass
class _Job:
    """One sample to judge: where it came from and what the model said."""

    task: Task
    sample_id: int
    raw: str
    completion: str
    num_tokens: int = 0
    finish_reason: str = ""


def _row(job: _Job, result: SampleResult) -> dict[str, Any]:
    return {
        "task_id": job.task.task_id,
        "sample_id": job.sample_id,
        "completion": job.completion,
        "raw": job.raw,
        "passed": result.passed,
        "outcome": result.outcome,
        "tests_passed": result.tests_passed,
        "tests_total": result.tests_total,
        "error": result.error[:_ERROR_CHARS],
        "num_tokens": job.num_tokens,
        "finish_reason": job.finish_reason,
        "duration": round(result.duration, 4),
    }


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _model_name(model_spec: Any) -> str:
    if isinstance(model_spec, str):
        return model_spec
    model = model_spec[0]
    return str(getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__)


class _Stats:
    def __init__(self) -> None:
        self.gen_seconds = 0.0
        self.gen_tokens = 0
        self.gen_samples = 0
        self.exec_seconds = 0.0
        self.exec_programs = 0


def evaluate(
    model_spec: str | tuple[Any, Any],
    tasks: Sequence[Task],
    config: EvalConfig,
    *,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalSummary:
    """Evaluate a model (a ``load_model`` spec, a loaded ``(model, tokenizer)`` pair, or ``"reference"``) on
    ``tasks`` and return the summary; with ``config.out`` set, also write samples.jsonl and summary.json.

    ``on_rows`` is called with each task's rows as they are judged (streaming consumers, tests); ``log`` with
    a one-line description of the work once the model is loaded (the CLI prints it).
    """
    started = time.monotonic()
    reference = isinstance(model_spec, str) and model_spec == REFERENCE
    config.validate(reference=reference)
    if not tasks:
        raise UnitrlError("no tasks to evaluate (empty benchmark, or --limit 0)")
    if reference:
        missing = [t.task_id for t in tasks if not t.reference.strip()]
        if missing:
            raise UnitrlError(
                f"--model reference needs a reference solution for every task; {len(missing)} lack one "
                f"(first: {missing[0]})"
            )
    n = 1 if reference else config.n
    model_name = _model_name(model_spec)
    fingerprint = run_fingerprint(model_name, config)

    out = Path(config.out) if config.out is not None else None
    existing: list[dict[str, Any]] = []
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UnitrlError(f"--out {out} is a file; pass a directory")
        existing = load_existing(out, fingerprint)

    wanted = {t.task_id for t in tasks}
    rows_by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for row in existing:
        key = (row["task_id"], int(row["sample_id"]))
        if key[0] in wanted and key[1] < n:
            rows_by_key.setdefault(key, row)
    todo: list[tuple[Task, list[int]]] = []
    for task in tasks:
        missing_ids = [j for j in range(n) if (task.task_id, j) not in rows_by_key]
        if missing_ids:
            todo.append((task, missing_ids))

    # load the model before writing anything, so that a bad --model leaves no half-made output dir
    model = tokenizer = None
    prompt_format = "reference" if reference else _previous_format(out) or config.prompt_format
    if todo and not reference:
        model, tokenizer, prompt_format = _load(model_spec, config)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record = {**fingerprint, "prompt_format_used": prompt_format}
        atomic_write_text(out / CONFIG_FILE, json.dumps(record, indent=2) + "\n")

    if log is not None:
        pending = sum(len(ids) for _, ids in todo)
        resumed = f", {len(rows_by_key)} resumed from {out / SAMPLES_FILE}" if rows_by_key and out else ""
        where = f" -> {out}" if out is not None else ""
        log(f"evaluating {model_name} on {config.benchmark or 'tasks'}: {len(tasks)} tasks x {n} samples "
            f"({pending} to run{resumed}){where}")  # fmt: skip
    stats = _Stats()
    if todo:
        _run(model, tokenizer, prompt_format, todo, config, n, out, rows_by_key, stats, on_rows)

    summary = _summarize(
        model_name, tasks, config, n, rows_by_key, stats, prompt_format, time.monotonic() - started
    )
    if out is not None:
        summary.out = str(out)
        atomic_write_text(out / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _previous_format(out: Path | None) -> str | None:
    """The prompt format a resumed run used (``auto`` resolved), from its config.json."""
    if out is None or not (out / CONFIG_FILE).is_file():
        return None
    try:
        value = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8")).get("prompt_format_used")
    except (json.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _load(model_spec: Any, config: EvalConfig) -> tuple[Any, Any, str]:
    """``(model, tokenizer, prompt_format)`` with ``auto`` resolved from the tokenizer."""
    from unitrl.evaluation.prompts import has_chat_template

    if isinstance(model_spec, str):
        from unitrl.models import load_model

        model, tokenizer = load_model(model_spec, device=_resolve_device(config.device), dtype=config.dtype)
    else:
        model, tokenizer = model_spec
    prompt_format = config.prompt_format
    if prompt_format == "auto":
        prompt_format = "chat" if has_chat_template(tokenizer) else "completion"
    if prompt_format == "chat" and not has_chat_template(tokenizer):
        raise UnitrlError("--prompt-format chat needs a tokenizer with a chat template; use completion")
    return model, tokenizer, prompt_format


def _run(
    model: Any,
    tokenizer: Any,
    prompt_format: str,
    todo: list[tuple[Task, list[int]]],
    config: EvalConfig,
    n: int,
    out: Path | None,
    rows_by_key: dict[tuple[str, int], dict[str, Any]],
    stats: _Stats,
    on_rows: Callable[[list[dict[str, Any]]], None] | None,
) -> None:
    """Generate (or take references), extract and execute the missing samples, recording rows as tasks finish."""
    from unitrl.evaluation.generate import make_progress
    from unitrl.execution import Executor

    reference = prompt_format == "reference"
    exec_config = config.execution or ExecutionConfig()
    exec_config = ExecutionConfig(
        **{**asdict(exec_config), "timeout": config.timeout, "workers": config.workers or exec_config.workers}
    )
    samples_path = out / SAMPLES_FILE if out is not None else None
    total = sum(len(ids) for _, ids in todo)
    per_chunk = max(1, (4 * config.batch_size) // max(1, n))
    chunks = [todo[i : i + per_chunk] for i in range(0, len(todo), per_chunk)]

    progress = make_progress(disable=not config.progress, transient=False)
    with progress, Executor(exec_config) as executor, ThreadPoolExecutor(max_workers=1) as pool:
        gen_bar = None if reference else progress.add_task("generating", total=total)
        exec_bar = progress.add_task("executing", total=total)
        pending: list[Future[None]] = []

        def execute(jobs: list[_Job]) -> None:
            by_task: dict[str, list[tuple[_Job, SampleResult]]] = {}
            expected = Counter(job.task.task_id for job in jobs)

            def on_result(index: int, result: SampleResult) -> None:
                job = jobs[index]
                done = by_task.setdefault(job.task.task_id, [])
                done.append((job, result))
                progress.advance(exec_bar, 1)
                if len(done) == expected[job.task.task_id]:
                    rows = [_row(j, r) for j, r in sorted(done, key=lambda jr: jr[0].sample_id)]
                    for row in rows:
                        rows_by_key[(row["task_id"], row["sample_id"])] = row
                    if samples_path is not None:
                        _append_rows(samples_path, rows)
                    if on_rows is not None:
                        on_rows(rows)

            t0 = time.monotonic()
            executor.run(
                [job.task.sample(job.completion, i) for i, job in enumerate(jobs)], on_result=on_result
            )
            stats.exec_seconds += time.monotonic() - t0
            stats.exec_programs += len(jobs)

        for chunk_index, chunk in enumerate(chunks):
            jobs: list[_Job] = []
            if reference:
                for task, ids in chunk:
                    jobs.extend(_Job(task, j, task.reference, task.reference) for j in ids)
            else:
                jobs = _generate_chunk(
                    model,
                    tokenizer,
                    chunk,
                    config,
                    prompt_format,
                    chunk_index,
                    stats,
                    lambda k: progress.advance(gen_bar, k),
                )
            # at most one chunk executes while the next generates; wait for the previous before queueing
            for f in pending:
                f.result()
            pending = [pool.submit(execute, jobs)]
        for f in pending:
            f.result()


@dataclass
class ProgramSample:
    """One sampled solution: the prompt it came from, the raw completion and the program to execute."""

    task: Task
    prompt: Any  # unitrl.evaluation.prompts.Prompt
    completion: Any  # unitrl.evaluation.generate.Completion (text, token_ids, finish_reason)
    program: str


def sample_programs(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[Task],
    *,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    batch_size: int = 16,
    seed: int | None = None,
    prompt_format: Literal["chat", "completion"] | None = None,
    progress: Any = False,
    on_batch: Callable[[list[tuple[int, int, ProgramSample]]], None] | None = None,
) -> list[list[ProgramSample]]:
    """Prompt, sample and extract for ``tasks``: ``result[task_index][sample_index]``.

    The loop an RL trainer needs before scoring with the executor (``task.sample(s.program)``); token ids
    for the policy update are in ``s.completion.token_ids`` and the prompt text in ``s.prompt.text``.
    ``on_batch`` gets each generation batch's ``(task_index, sample_index, sample)`` as soon as it is done.
    """
    from unitrl.evaluation.generate import sample_completions
    from unitrl.evaluation.prompts import build_prompt

    prompts = [build_prompt(task, tokenizer, format=prompt_format) for task in tasks]
    if not prompts:
        return []
    samples: list[dict[int, ProgramSample]] = [{} for _ in tasks]

    def batch_done(items: list[tuple[int, int, Any]]) -> None:
        # each program is extracted once, as its batch finishes; the result is assembled from these
        done = [
            (t, j, ProgramSample(tasks[t], prompts[t], c, prompts[t].extract(c.text))) for t, j, c in items
        ]
        for t, j, sample in done:
            samples[t][j] = sample
        if on_batch is not None:
            on_batch(done)

    completions = sample_completions(
        model,
        tokenizer,
        [p.text for p in prompts],
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        stop=[p.stop for p in prompts],
        seed=seed,
        add_special_tokens=not prompts[0].has_special_tokens,
        progress=progress,
        on_batch=batch_done,
    )
    return [[row[j] for j in range(len(outs))] for row, outs in zip(samples, completions, strict=True)]


def _generate_chunk(
    model: Any,
    tokenizer: Any,
    chunk: list[tuple[Task, list[int]]],
    config: EvalConfig,
    prompt_format: str,
    chunk_index: int,
    stats: _Stats,
    advance: Callable[[int], None],
) -> list[_Job]:
    """Sample the missing completions of a chunk of tasks (grouped by how many each still needs)."""
    jobs: list[_Job] = []
    groups: dict[int, list[tuple[Task, list[int]]]] = {}
    for task, ids in chunk:
        groups.setdefault(len(ids), []).append((task, ids))
    for count, members in groups.items():
        t0 = time.monotonic()
        samples = sample_programs(
            model,
            tokenizer,
            [task for task, _ in members],
            n=count,
            temperature=config.temperature,
            top_p=config.top_p,
            max_new_tokens=config.max_new_tokens,
            batch_size=config.batch_size,
            seed=config.seed + 1_000_003 * chunk_index + count,
            prompt_format=prompt_format,  # type: ignore[arg-type]  # chat or completion here
            progress=advance,
        )
        stats.gen_seconds += time.monotonic() - t0
        for (task, ids), outs in zip(members, samples, strict=True):
            for sample_id, s in zip(ids, outs, strict=True):
                stats.gen_tokens += s.completion.num_tokens
                stats.gen_samples += 1
                jobs.append(
                    _Job(
                        task,
                        sample_id,
                        raw=s.completion.text,
                        completion=s.program,
                        num_tokens=s.completion.num_tokens,
                        finish_reason=s.completion.finish_reason,
                    )
                )
    return jobs


def _summarize(
    model_name: str,
    tasks: Sequence[Task],
    config: EvalConfig,
    n: int,
    rows_by_key: dict[tuple[str, int], dict[str, Any]],
    stats: _Stats,
    prompt_format: str,
    wall: float,
) -> EvalSummary:
    rows = [rows_by_key[(t.task_id, j)] for t in tasks for j in range(n) if (t.task_id, j) in rows_by_key]
    counts = count_correct((r["task_id"], bool(r["passed"])) for r in rows)
    estimates = pass_at_ks(counts, config.ks)
    timings = {
        "wall_seconds": round(wall, 3),
        "generation_seconds": round(stats.gen_seconds, 3),
        "generated_tokens": stats.gen_tokens,
        "generation_tokens_per_second": round(stats.gen_tokens / stats.gen_seconds, 2)
        if stats.gen_seconds
        else 0.0,
        "execution_seconds": round(stats.exec_seconds, 3),
        "executed_programs": stats.exec_programs,
        "execution_programs_per_second": round(stats.exec_programs / stats.exec_seconds, 2)
        if stats.exec_seconds
        else 0.0,
    }
    reference = prompt_format == "reference"
    return EvalSummary(
        model=model_name,
        benchmark=config.benchmark,
        split=config.split,
        n=n,
        ks=list(config.ks),
        temperature=0.0 if reference else config.temperature,
        top_p=1.0 if reference else config.top_p,
        max_new_tokens=0 if reference else config.max_new_tokens,
        seed=config.seed,
        prompt_format=prompt_format,
        tasks=len(tasks),
        samples=len(rows),
        pass_at_k={f"pass@{k}": e.value for k, e in estimates.items()},
        outcomes=dict(Counter(r["outcome"] for r in rows).most_common()),
        timings=timings,
        skipped={f"pass@{k}": len(e.skipped) for k, e in estimates.items() if e.skipped},
        per_task={t: [nc[0], nc[1]] for t, nc in counts.items()},
    )


# ------------------------------------------------------------------------------------------------- report


def summary_table(summary: EvalSummary) -> Any:
    """A rich renderable of the summary (the CLI prints it; tests can render it to text)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = f"{summary.model} on {summary.benchmark}" + (f" ({summary.split})" if summary.split else "")
    scores = Table()
    scores.add_column("metric")
    scores.add_column("value", justify="right")
    for name, value in summary.pass_at_k.items():
        shown = "n/a" if value is None else f"{100 * value:.2f}%"
        skipped = summary.skipped.get(name)
        scores.add_row(name, shown + (f" ({skipped} tasks skipped: fewer than k samples)" if skipped else ""))
    scores.add_row("tasks", str(summary.tasks))
    scores.add_row("samples", f"{summary.samples} (n={summary.n})")
    if summary.prompt_format != "reference":
        scores.add_row(
            "sampling", f"T={summary.temperature}, top_p={summary.top_p}, {summary.prompt_format} prompt"
        )

    outcomes = Table(title="outcomes", title_justify="left")
    outcomes.add_column("outcome")
    outcomes.add_column("samples", justify="right")
    outcomes.add_column("share", justify="right")
    for outcome, count in summary.outcomes.items():
        outcomes.add_row(outcome, str(count), f"{100 * count / max(1, summary.samples):.1f}%")

    timing = Table(title="speed (this run)", title_justify="left")
    timing.add_column("stage")
    timing.add_column("rate", justify="right")
    t = summary.timings
    if t.get("generated_tokens"):
        timing.add_row(
            "generation", f"{t['generation_tokens_per_second']:.1f} tokens/s ({t['generated_tokens']} tokens)"
        )
    if t.get("executed_programs"):
        timing.add_row(
            "execution",
            f"{t['execution_programs_per_second']:.1f} programs/s ({t['executed_programs']} programs)",
        )
    timing.add_row("wall", f"{t.get('wall_seconds', 0.0):.1f} s")
    return Group(Text(title, style="bold"), scores, outcomes, timing)
