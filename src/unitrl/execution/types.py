"""Data types of the executor's public API: what goes in (a :class:`Sample`) and what comes out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

#: Outcome of a whole sample.  ``pass`` means every test passed; the others say why not, most severe first
#: when several apply (a sample that timed out on test 3 is ``timeout`` even if test 1 failed).
Outcome = Literal["pass", "fail", "runtime_error", "syntax_error", "timeout", "memory", "killed"]

#: Outcome of one test.  ``error`` = an exception other than AssertionError (in the program or the test);
#: ``not_run`` = an earlier problem (timeout, crash) stopped the sample before this test.
TestOutcome = Literal["pass", "fail", "error", "timeout", "memory", "killed", "not_run"]


@dataclass
class Sample:
    """One untrusted ``program`` to run against trusted ``tests``.

    ``program`` is full Python source (it must define whatever the tests call).  ``test_setup`` runs before
    the tests in the trusted judge (imports, helpers).  ``key`` is passed through untouched to the result so
    callers can match results to inputs.
    """

    program: str
    tests: list[str]
    test_setup: str = ""
    key: Any = None
    #: Names the tests take from the program even where they shadow a builtin or a standard-library module
    #: (normally just the entry point: MBPP 126's function is called ``sum``).  Every other builtin or stdlib
    #: module name a test uses is bound to the judge's own trusted object.
    program_names: list[str] = field(default_factory=list)


@dataclass
class TestResult:
    outcome: TestOutcome
    #: Short error text (exception type and message), empty when the test passed.
    error: str = ""
    #: For a test that is a bare expression (``f(3)``), ``repr`` of its value: used to build oracles.
    value: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@dataclass
class SampleResult:
    outcome: Outcome
    tests_passed: int
    tests_total: int
    tests: list[TestResult] = field(default_factory=list)
    #: Program-level error text (syntax error, exception at import time, crash reason).
    error: str = ""
    #: Wall-clock seconds the sample took in the sandbox.
    duration: float = 0.0
    key: Any = None

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"

    @property
    def pass_rate(self) -> float:
        return self.tests_passed / self.tests_total if self.tests_total else 0.0


SandboxMode = Literal["auto", "bwrap", "none"]


@dataclass
class ExecutionConfig:
    """Limits and parallelism of the executor.  Defaults suit MBPP/HumanEval-sized programs."""

    #: Wall-clock seconds one sample may take in total (program import + all tests).
    timeout: float = 10.0
    #: Wall-clock seconds one test may take; ``None`` = only the sample's ``timeout`` applies.
    test_timeout: float | None = 5.0
    #: CPU seconds one sample's program may use (RLIMIT_CPU); ``None`` = ``ceil(timeout)``.
    cpu_seconds: int | None = None
    #: Address-space limit of the program's processes, in MiB (RLIMIT_AS).  Documented default: 2 GiB.
    memory_mb: int = 2048
    #: Largest file the program may write, in MiB (RLIMIT_FSIZE); its private /tmp is also capped at this size.
    file_size_mb: int = 16
    #: Most processes the program may have at once (RLIMIT_NPROC, counted inside its own user namespace).
    max_processes: int = 16
    #: Bytes of stdout/stderr kept for diagnostics; everything after that is discarded, never buffered.
    output_bytes: int = 4096
    #: Largest value (pickled bytes) a call may return to the judge; larger ones fail the test.
    max_value_bytes: int = 16 * 1024 * 1024
    #: Parallel sandboxed workers; ``None`` = one per CPU core.
    workers: int | None = None
    #: ``bwrap`` = bubblewrap namespaces (required), ``none`` = rlimits only, ``auto`` = bwrap when usable,
    #: else rlimits only with one loud warning.
    sandbox: SandboxMode = "auto"

    def resolved_workers(self) -> int:
        return self.workers or max(1, len(os.sched_getaffinity(0)))

    def resolved_cpu_seconds(self) -> int:
        import math

        return self.cpu_seconds if self.cpu_seconds is not None else max(1, math.ceil(self.timeout))
