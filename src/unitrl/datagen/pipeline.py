"""The mining pipeline: Python source in, unit-tested :class:`~unitrl.tasks.Task`\\ s out.

For each function :func:`~unitrl.datagen.selection.select_functions` accepts:

1. infer argument types (:mod:`~unitrl.datagen.types`) and generate inputs (:mod:`~unitrl.datagen.inputs`);
2. run the reference on them under two hash seeds and keep the reliable calls as asserts
   (:mod:`~unitrl.datagen.oracle`);
3. pick a small suite by greedy mutant cover, ties broken by the reference's branches each test covers
   (coverage.py, run in the sandbox: :mod:`~unitrl.datagen.coverage`), and keep the task only if its
   mutation score reaches the threshold (:mod:`~unitrl.datagen.suite`);
4. write the prompt (:mod:`~unitrl.datagen.prompt`).

Every function looked at ends up either as a task or under exactly one rejection reason: the selection
reasons of :data:`~unitrl.datagen.selection.REASONS`, or one of :data:`PIPELINE_REASONS`, so a run can say
where its yield went.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitrl.datagen.inputs import body_constants, generate_inputs
from unitrl.datagen.oracle import refine_signature, run_oracle
from unitrl.datagen.prompt import build_prompt
from unitrl.datagen.scoring import ReferenceFailsError
from unitrl.datagen.selection import Candidate, select_functions
from unitrl.datagen.strategies import HYPOTHESIS_VERSION
from unitrl.datagen.suite import select_suite
from unitrl.datagen.types import infer_signature
from unitrl.tasks import Task

if TYPE_CHECKING:
    from unitrl.datagen.dedup import TaskScreen
    from unitrl.datagen.sources import Source
    from unitrl.execution import ExecutionConfig, Executor

logger = logging.getLogger(__name__)

#: Rejections after selection, one per function.
PIPELINE_REASONS: tuple[str, ...] = (
    "no_inputs",  # no input could be generated (unparseable signature, only **kwargs)
    "nondeterministic",  # some input gave different results under two hash seeds
    "few_oracle_cases",  # fewer than ``min_cases`` calls gave a reliable, deterministic result
    "no_mutants",  # fewer than ``min_mutants`` mutants (`return x`): too simple, and no way to show the
    # tests catch bugs
    "reference_fails",  # the reference failed its own chosen suite (flaky)
    "low_mutation_score",  # the best small suite scores under the threshold
    "error",  # an unexpected failure while mining this function (reported, never fatal)
    "duplicate",  # the same function (up to names and layout) was mined earlier in the run (dedup)
    "contaminated",  # matches an MBPP/HumanEval solution, or overlaps a benchmark task's text too much
)


@dataclass
class MineConfig:
    """Knobs of the pipeline; the defaults are the ones the CLI documents."""

    max_tests: int = 10
    #: The suite is topped up with distinct-valued cases to this size (more signal for partial credit).
    min_tests: int = 5
    threshold: float = 0.8
    n_inputs: int = 40
    seed: int = 0
    mutant_limit: int | None = 60
    #: Fewest mutants a function must have (identity functions like ``return x`` have one).
    min_mutants: int = 3
    max_raises: int = 2
    #: Per-call deadline (seconds) of the oracle runs: slower calls are dropped.
    test_timeout: float = 0.5
    #: Per-call deadline of the mutant runs (and of the reference in the final score).  Mutants that loop
    #: forever are common and each one costs this much, so it is short; a reference slower than this on
    #: its own suite is rejected as ``reference_fails``.
    mutant_timeout: float = 0.25
    #: Fewest reliable oracle cases a function needs.
    min_cases: int = 3
    max_lines: int = 40
    #: Stop after this many selected functions went through the pipeline (all sources together).
    limit_functions: int | None = None
    #: :func:`mine_paths` drops functions equal (up to names and layout) to one mined earlier in the run.
    #: Off by default in the library (a caller mining one text twice expects the same tasks); the CLI turns
    #: it on.
    dedup: bool = False
    #: :func:`mine_paths` drops tasks matching MBPP/HumanEval (see :mod:`unitrl.datagen.dedup`); the CLI
    #: turns it on.
    decontaminate: bool = False
    #: Word 5-gram Jaccard similarity with a benchmark task at or above which a task is contaminated.
    contamination_threshold: float = 0.5
    #: Measure the reference's branch coverage (coverage.py, in the sandbox) to break ties in suite
    #: selection and report it in ``meta["branch_coverage"]``.
    branch_coverage: bool = True


@dataclass
class MineStats:
    """What a run looked at and where it went."""

    files: int = 0
    functions_seen: int = 0
    #: Functions that passed selection and went through the (costly) rest of the pipeline.
    candidates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    tasks_kept: int = 0
    tests_total: int = 0
    score_total: float = 0.0
    #: Sum of the kept tasks' branch coverage, over the ``coverage_tasks`` tasks where it was measured.
    coverage_total: float = 0.0
    coverage_tasks: int = 0
    seconds: float = 0.0
    #: False when ``limit`` stopped the run inside the source (a resumed run must mine it again).
    complete: bool = True
    #: Functions dropped as copies of earlier ones / as benchmark look-alikes (also in ``rejected``).
    dedup_dropped: int = 0
    decontaminated: int = 0

    @property
    def mean_tests(self) -> float:
        return self.tests_total / self.tasks_kept if self.tasks_kept else 0.0

    @property
    def mean_score(self) -> float:
        return self.score_total / self.tasks_kept if self.tasks_kept else 0.0

    @property
    def mean_branch_coverage(self) -> float | None:
        """Mean branch coverage of the kept suites (``None`` when none was measured)."""
        return self.coverage_total / self.coverage_tasks if self.coverage_tasks else None

    def count_task(self, task: Task, sign: int = 1) -> None:
        """Count a kept task (``sign=-1``: take back one counted earlier, e.g. a duplicate found later)."""
        self.tasks_kept += sign
        self.tests_total += sign * len(task.tests)
        self.score_total += sign * float(task.meta["mutation_score"])
        coverage = task.meta.get("branch_coverage")
        if coverage is not None:
            self.coverage_total += sign * float(coverage)
            self.coverage_tasks += sign

    def add(self, other: MineStats) -> None:
        self.files += other.files
        self.functions_seen += other.functions_seen
        self.candidates += other.candidates
        self.rejected.update(other.rejected)
        self.tasks_kept += other.tasks_kept
        self.tests_total += other.tests_total
        self.score_total += other.score_total
        self.coverage_total += other.coverage_total
        self.coverage_tasks += other.coverage_tasks
        self.seconds += other.seconds
        self.dedup_dropped += other.dedup_dropped
        self.decontaminated += other.decontaminated
        self.complete = self.complete and other.complete

    def state(self) -> dict[str, Any]:
        """Every raw field (sums, not means), JSON-ready: what :meth:`from_state` reads back."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["rejected"] = dict(self.rejected)
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> MineStats:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["rejected"] = Counter(values.get("rejected", {}))
        return cls(**values)

    @property
    def functions_per_second(self) -> float:
        return self.functions_seen / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "functions_seen": self.functions_seen,
            "candidates": self.candidates,
            "rejected": dict(self.rejected.most_common()),
            "tasks_kept": self.tasks_kept,
            "dedup_dropped": self.dedup_dropped,
            "decontaminated": self.decontaminated,
            "mean_tests": round(self.mean_tests, 2),
            "mean_mutation_score": round(self.mean_score, 3),
            "mean_branch_coverage": None if (c := self.mean_branch_coverage) is None else round(c, 3),
            "seconds": round(self.seconds, 1),
            "yield": round(self.tasks_kept / self.functions_seen, 4) if self.functions_seen else 0.0,
            "functions_per_second": round(self.functions_per_second, 2),
            "tasks_per_minute": round(60 * self.tasks_kept / self.seconds, 1) if self.seconds else 0.0,
        }

    def line(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.rejected.most_common())
        coverage = self.mean_branch_coverage
        coverage_text = "n/a" if coverage is None else f"{coverage:.3f}"
        return (
            f"{self.files} files, {self.functions_seen} functions seen ({self.candidates} selected), "
            f"{self.tasks_kept} tasks kept "
            f"({self.dedup_dropped} duplicates and {self.decontaminated} benchmark look-alikes dropped) "
            f"(mean {self.mean_tests:.1f} tests, mean mutation score {self.mean_score:.3f}, "
            f"mean branch coverage {coverage_text}) in "
            f"{self.seconds:.1f} s ({self.functions_per_second:.1f} functions/s); rejected: {reasons or 'none'}"
        )


def task_id_for(path: str, qualname: str, lineno: int) -> str:
    return f"mined/{path.lstrip('/')}:{qualname}:{lineno}"


def mine_candidate(
    candidate: Candidate, executor: Executor, recheck: Executor | None, config: MineConfig
) -> tuple[Task | None, str | None]:
    """One task from one selected function, or ``(None, reason)``."""
    entry = candidate.name
    constants = body_constants(candidate.source, entry)
    signature = infer_signature(candidate.source, entry)
    signature = refine_signature(
        candidate.reference, entry, signature, executor, seed=config.seed, constants=constants
    )
    inputs = generate_inputs(signature, n=config.n_inputs, seed=config.seed, constants=constants)
    if not inputs:
        return None, "no_inputs"
    oracle = run_oracle(
        candidate.reference,
        entry,
        inputs,
        executor,
        recheck,
        max_raises=config.max_raises,
        test_timeout=config.test_timeout,
    )
    if oracle.dropped["nondeterministic"]:
        # output that depends on hash order for some input may do so for any: no assert is safe
        return None, "nondeterministic"
    values = {c.outcome_key for c in oracle.cases if c.kind == "value"}
    if len(oracle.cases) < config.min_cases or len(values) < 2:
        return None, "few_oracle_cases"  # one repeated value (always None, always 0) is no spec either
    try:
        suite = select_suite(
            candidate.reference,
            entry,
            oracle.cases,
            executor,
            max_tests=config.max_tests,
            min_tests=config.min_tests,
            max_raises=config.max_raises,
            mutant_limit=config.mutant_limit,
            test_timeout=config.mutant_timeout,
            measure_coverage=config.branch_coverage,
            coverage_executor=recheck,  # idle while the kill matrix runs on `executor`
        )
    except ReferenceFailsError:
        return None, "reference_fails"
    if len(suite.mutants) < config.min_mutants:
        return None, "no_mutants"
    if suite.report is None or suite.score < config.threshold:
        return None, "low_mutation_score"
    prompt, doc_counts = build_prompt(
        candidate.reference, entry, candidate.docstring, oracle.cases, suite.cases
    )
    report = suite.report
    task = Task(
        task_id=task_id_for(candidate.path, candidate.qualname or entry, candidate.lineno),
        prompt=prompt,
        entry_point=entry,
        tests=suite.tests,
        test_setup=suite.test_setup,
        reference=candidate.reference,
        meta={
            "source": "mined",
            "path": candidate.path,
            "line": candidate.lineno,
            "qualname": candidate.qualname or entry,
            "signature": str(signature),
            "type_evidence": {p.name: p.evidence for p in signature.params},
            "mutation_score": round(report.score, 4),
            "n_mutants": report.total,
            "survivors": report.survivor_summary(),
            #: covered / all branches of the reference (coverage.py, in the sandbox); None: not measured
            "branch_coverage": None if suite.branch_coverage is None else round(suite.branch_coverage, 4),
            "n_branches": suite.n_branches,
            "oracle_cases": len(oracle.cases),
            "oracle_dropped": dict(oracle.dropped),
            "doctests": doc_counts,
            #: False: the prompt's docstring was written from oracle examples (the function had none)
            "documented": bool(candidate.docstring),
            #: the inputs are reproducible with this Hypothesis version (unitrl.datagen.strategies)
            "hypothesis": HYPOTHESIS_VERSION,
        },
    )
    return task, None


def mine_source(
    source_text: str,
    path: str,
    executor: Executor,
    config: MineConfig | None = None,
    *,
    recheck: Executor | None = None,
    limit: int | None = None,
    on_task: Callable[[Task], None] | None = None,
    screen: TaskScreen | None = None,
    meta: dict[str, Any] | None = None,
) -> tuple[list[Task], MineStats]:
    """Mine one module's source.

    ``recheck`` is the second executor of the determinism check (a different ``hash_seed`` from
    ``executor``'s); without it a temporary one is started for this call, which costs a worker start --
    pass one when mining many sources (:class:`Miner` does).  ``limit`` caps the functions that go through
    the pipeline after selection (the costly part; selection's static rejections are always counted).
    ``screen`` (:class:`~unitrl.datagen.dedup.TaskScreen`) drops duplicates and benchmark look-alikes:
    candidates before the costly part, finished tasks after.  ``meta`` is merged into every task's ``meta``
    (the source's ``licence``).
    """
    config = config or MineConfig()
    own_recheck = None
    if recheck is None:
        from unitrl.execution import Executor as _Executor

        seed = executor.hash_seed
        own_recheck = recheck = _Executor(executor.config, hash_seed=(seed or 0) + 1)
    start = time.perf_counter()
    stats = MineStats(files=1)
    tasks: list[Task] = []
    try:
        candidates, rejected = select_functions(source_text, path, max_lines=config.max_lines)
        stats.rejected.update(rejected)
        stats.functions_seen = sum(rejected.values())
        for candidate in candidates:
            if limit is not None and stats.candidates >= limit:
                stats.complete = False
                break
            stats.functions_seen += 1
            reason = screen.check_candidate(candidate) if screen is not None else None
            if reason is not None:  # before the costly part: a copy would only be mined to be dropped
                _count_screened(stats, reason)
                continue
            stats.candidates += 1
            try:
                task, reason = mine_candidate(candidate, executor, recheck, config)
                if task is not None and screen is not None:
                    reason = screen.check_task(task)
                    if reason is not None:
                        _count_screened(stats, reason)
                        continue
            except Exception:  # one odd function must not end a run over thousands of files
                task, reason = None, "error"
                logger.warning("mining %s:%s failed", path, candidate.qualname, exc_info=True)
            if task is None:
                stats.rejected[reason or "error"] += 1
                continue
            if meta:
                task.meta.update(meta)
            tasks.append(task)
            stats.count_task(task)
            if on_task is not None:
                on_task(task)
    finally:
        if own_recheck is not None:
            own_recheck.close()
    stats.seconds = time.perf_counter() - start
    return tasks, stats


def _count_screened(stats: MineStats, reason: str) -> None:
    stats.rejected[reason] += 1
    if reason == "duplicate":
        stats.dedup_dropped += 1
    else:
        stats.decontaminated += 1


class Miner:
    """Two executors (hash seeds 0 and 1) kept warm across many sources; ``screen`` (dedup and
    decontamination state) is shared by every :meth:`mine_source` call."""

    def __init__(
        self,
        exec_config: ExecutionConfig | None = None,
        config: MineConfig | None = None,
        screen: TaskScreen | None = None,
    ) -> None:
        from unitrl.execution import ExecutionConfig as _Config
        from unitrl.execution import Executor as _Executor

        self.config = config or MineConfig()
        self.screen = screen
        exec_config = exec_config or _Config()
        self.executor = _Executor(exec_config, hash_seed=0)
        self.recheck = _Executor(exec_config, hash_seed=1)

    def __enter__(self) -> Miner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.executor.close()
        self.recheck.close()

    def mine_source(
        self,
        source_text: str,
        path: str,
        limit: int | None = None,
        on_task: Callable[[Task], None] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> tuple[list[Task], MineStats]:
        return mine_source(
            source_text,
            path,
            self.executor,
            self.config,
            recheck=self.recheck,
            limit=limit,
            on_task=on_task,
            screen=self.screen,
            meta=meta,
        )


def read_source(path: str | os.PathLike[str]) -> str | None:
    """A module's text, or ``None`` when it cannot be read as UTF-8 (counted as a syntax error)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def make_screen(config: MineConfig) -> TaskScreen | None:
    """The dedup/decontamination screen ``config`` asks for (benchmark fingerprints computed once), or
    ``None`` when both are off."""
    if not (config.dedup or config.decontaminate):
        return None
    from unitrl.datagen.dedup import TaskScreen as _Screen

    return _Screen(
        dedup=config.dedup, decontaminate=config.decontaminate, threshold=config.contamination_threshold
    )


def mine_paths(
    paths: Iterable[str | os.PathLike[str]],
    config: MineConfig | None = None,
    exec_config: ExecutionConfig | None = None,
    *,
    on_task: Callable[[Task], None] | None = None,
    on_file: Callable[[str, MineStats], None] | None = None,
    skip: Callable[[str], bool] | None = None,
    screen: TaskScreen | None = None,
    on_source: Callable[[Source], None] | None = None,
) -> tuple[list[Task], MineStats]:
    """Mine sources: ``.py`` files, folders (searched recursively), ``stdlib``, wheels and sdists,
    ``pypi:NAME[==VERSION]`` packages and JSONL corpora (see :mod:`unitrl.datagen.sources`).

    Files are named by :func:`~unitrl.datagen.sources.label_for` in the tasks (``ARCHIVE!member`` inside
    archives and corpora); ``skip(label)`` leaves a file out (resuming).  PyPI packages are downloaded into
    a temporary folder before any worker starts.  ``screen`` overrides the dedup/decontamination screen
    that ``config`` would make (pass one seeded with a resumed run's tasks).

    ``on_source`` sees each resolved source before it is mined, ``on_task`` each task as it is made,
    ``on_file`` each file's stats once it is done.
    """
    from unitrl.datagen.sources import resolve_sources

    config = config or MineConfig()
    total = MineStats()
    tasks: list[Task] = []
    with tempfile.TemporaryDirectory(prefix="unitrl-mine-") as work:
        sources = resolve_sources([os.fspath(p) for p in paths], Path(work))
        if screen is None:
            screen = make_screen(config)
        with Miner(exec_config, config, screen=screen) as miner:
            for source in sources:
                if on_source is not None:
                    on_source(source)
                for file in source.iter_files():
                    if config.limit_functions is not None and total.candidates >= config.limit_functions:
                        break
                    label = file.label
                    if skip is not None and skip(label):
                        continue
                    if file.text is None:
                        stats = MineStats(files=1, functions_seen=0, rejected=Counter({"syntax_error": 1}))
                    else:
                        left = (
                            None
                            if config.limit_functions is None
                            else config.limit_functions - total.candidates
                        )
                        found, stats = miner.mine_source(
                            file.text, label, limit=left, on_task=on_task, meta=file.meta
                        )
                        tasks.extend(found)
                    total.add(stats)
                    if on_file is not None:
                        on_file(label, stats)
    return tasks, total
