"""Host side of the executor: a pool of sandboxed workers and the verdict for each sample.

Design (why it is fast and why its verdicts can be trusted):

* **Pre-warmed, forking workers.**  ``N`` long-lived worker processes (one per core by default) start once,
  under bubblewrap, with the standard library warmed up.  Each sample costs a few ``fork`` calls and one set
  of namespaces, not a new interpreter.  Host threads feed the workers from one queue, so a sample that hangs
  only holds its own worker until its deadline.
* **Hard deadlines from outside.**  The worker, not the program, enforces the wall-clock limit with
  ``SIGKILL`` on the program's PID namespace; the host adds its own safety deadline on each worker and
  replaces a worker that stops answering.  No signal handlers or alarms run in the caller.
* **Verdicts from the judge.**  Tests run in a trusted judge process that talks to the program only through a
  plain-data RPC channel; the program's exit code, output and objects never decide anything (see ``judge``).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from unitrl.execution import protocol
from unitrl.execution.sandbox import worker_command
from unitrl.execution.types import ExecutionConfig, Outcome, Sample, SampleResult, TestResult

#: Extra seconds the host waits for a worker beyond the sample's own timeout before replacing the worker.
HOST_GRACE = 15.0
_SEVERITY: tuple[Outcome, ...] = ("timeout", "memory", "killed", "runtime_error", "fail")


class WorkerError(RuntimeError):
    """A worker process failed to start or broke its protocol."""


class _Worker:
    """One sandboxed worker process and the pipes to it."""

    def __init__(self, config: ExecutionConfig, hash_seed: int | None) -> None:
        cmd, self.bwrap = worker_command(config.sandbox, hash_seed, config.file_size_mb << 20)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        if hash_seed is not None:
            env["PYTHONHASHSEED"] = str(hash_seed)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("UNITRL_DEBUG_WORKER") else subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.tx = self.proc.stdin.fileno()
        self.rx = self.proc.stdout.fileno()
        protocol.send(self.tx, {"sandboxed": self.bwrap})
        try:
            hello = protocol.recv(self.rx, deadline=time.monotonic() + 60)
        except (protocol.ChannelClosed, protocol.ChannelTimeout):
            self.close()
            raise WorkerError(f"sandbox worker failed to start ({' '.join(cmd[:2])} ...)") from None
        self.pid1: bool = hello["pid1"]

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        protocol.send(self.tx, job)
        return protocol.recv(self.rx, deadline=time.monotonic() + timeout + HOST_GRACE)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def _job(sample: Sample, config: ExecutionConfig) -> dict[str, Any]:
    return {
        "program": sample.program,
        "tests": list(sample.tests),
        "test_setup": sample.test_setup,
        "program_names": list(sample.program_names),
        "timeout": float(config.timeout),
        "test_timeout": config.test_timeout,
        "cpu_seconds": config.resolved_cpu_seconds(),
        "memory_bytes": config.memory_mb * 1024 * 1024,
        "file_bytes": config.file_size_mb * 1024 * 1024,
        "max_processes": config.max_processes,
        "output_bytes": config.output_bytes,
        "max_value_bytes": config.max_value_bytes,
    }


def verdict(raw: dict[str, Any], sample: Sample) -> SampleResult:
    """Turn a worker's raw report into a :class:`SampleResult`; anything unreported counts against the sample."""
    total = len(sample.tests)
    duration = float(raw.get("duration", 0.0))
    if "worker_error" in raw:
        return SampleResult("killed", 0, total, [TestResult("not_run")] * total, raw["worker_error"], duration,
                            sample.key)  # fmt: skip
    program = raw.get("program")
    timed_out = bool(raw.get("cpu_limit"))
    tests: list[TestResult] = []
    for entry in raw["tests"]:
        if entry is None:
            tests.append(TestResult("not_run"))
        else:
            outcome, error, value = entry
            tests.append(TestResult(outcome, error, value))
    passed = sum(t.passed for t in tests)
    error = ""
    outcome: Outcome
    if program is None:
        outcome = "timeout" if timed_out else "killed"
        error = "program did not start" if not timed_out else "time limit exceeded"
    elif program[0] != "ready":
        status, error = program
        outcome = {"syntax_error": "syntax_error", "memory": "memory", "timeout": "timeout"}.get(
            status, "killed" if status == "killed" else "runtime_error"
        )
        if status == "killed" and timed_out:
            outcome = "timeout"
    elif passed == total and not timed_out:
        outcome = "pass"
    else:
        seen = {t.outcome for t in tests}
        if timed_out:
            seen.add("timeout")
        outcome = "fail"
        for candidate in _SEVERITY:
            key = "error" if candidate == "runtime_error" else candidate
            if key in seen:
                outcome = candidate
                break
        failing = next((t for t in tests if not t.passed and t.error), None)
        error = failing.error if failing else ""
    return SampleResult(outcome, passed, total, tests, error, duration, sample.key)


class _Batch:
    """Results of one :meth:`Executor.run` call, filled in by the slot threads."""

    def __init__(self, n: int, on_result: Callable[[int, SampleResult], None] | None) -> None:
        self.results: list[SampleResult | None] = [None] * n
        self.errors: list[BaseException] = []
        self.pending = n
        self.on_result = on_result
        self.cond = threading.Condition()

    def done(self, index: int, result: SampleResult | BaseException) -> None:
        with self.cond:
            if isinstance(result, BaseException):
                self.errors.append(result)
            else:
                self.results[index] = result
                if self.on_result is not None:
                    try:
                        self.on_result(index, result)
                    except BaseException as e:  # noqa: BLE001 - surfaced in the caller's thread
                        self.errors.append(e)
            self.pending -= 1
            self.cond.notify_all()

    def wait(self) -> list[SampleResult]:
        with self.cond:
            while self.pending:
                self.cond.wait()
        if self.errors:
            raise self.errors[0]
        return [r for r in self.results if r is not None]


class Executor:
    """A pool of sandboxed workers.  Use as a context manager; :meth:`run` may be called many times.

    Each worker is owned by one long-lived slot thread that starts it, feeds it and restarts it if it dies.
    (bubblewrap's ``--die-with-parent`` ties a worker's life to the *thread* that spawned it, so workers must
    never be spawned from short-lived threads.)

    ``hash_seed`` fixes ``PYTHONHASHSEED`` in the workers (two executors with different seeds let data
    generation check that a function's output does not depend on hash order).
    """

    def __init__(self, config: ExecutionConfig | None = None, *, hash_seed: int | None = None) -> None:
        self.config = config or ExecutionConfig()
        self.hash_seed = hash_seed
        self._jobs: queue.Queue[tuple[_Batch, int, Sample, ExecutionConfig] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self.isolated: bool | None = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _slot_loop(self) -> None:
        worker: _Worker | None = None
        try:
            while True:
                item = self._jobs.get()
                if item is None:
                    return
                batch, index, sample, config = item
                try:
                    if worker is None or worker.proc.poll() is not None:
                        worker = _Worker(self.config, self.hash_seed)
                        self.isolated = worker.bwrap and worker.pid1
                    try:
                        raw = worker.run(_job(sample, config), config.timeout)
                    except (protocol.ChannelClosed, protocol.ChannelTimeout, OSError) as e:
                        worker.close()
                        worker = None
                        raw = {"worker_error": f"sandbox worker lost ({type(e).__name__})"}
                    batch.done(index, verdict(raw, sample))
                except BaseException as e:  # noqa: BLE001 - reported to the caller of run()
                    batch.done(index, e)
        finally:
            if worker is not None:
                worker.close()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if not self._threads:
                for slot in range(self.config.resolved_workers()):
                    thread = threading.Thread(target=self._slot_loop, name=f"unitrl-exec-{slot}", daemon=True)
                    thread.start()
                    self._threads.append(thread)

    def run(
        self,
        samples: Sequence[Sample],
        *,
        on_result: Callable[[int, SampleResult], None] | None = None,
        **overrides: Any,
    ) -> list[SampleResult]:
        """Run ``samples`` in parallel; results come back in input order.

        ``on_result(index, result)`` is called as each sample finishes (progress bars, streaming writes).
        ``overrides`` replace config fields for this call only (e.g. ``timeout=3``).
        """
        config = replace(self.config, **overrides) if overrides else self.config
        batch = _Batch(len(samples), on_result)
        if not samples:
            return []
        self._ensure_started()
        for i, sample in enumerate(samples):
            self._jobs.put((batch, i, sample, config))
        return batch.wait()

    def close(self) -> None:
        with self._start_lock:
            for _ in self._threads:
                self._jobs.put(None)
            for thread in self._threads:
                thread.join(timeout=30)
            self._threads.clear()


def run_batch(
    samples: Sequence[Sample],
    config: ExecutionConfig | None = None,
    *,
    on_result: Callable[[int, SampleResult], None] | None = None,
) -> list[SampleResult]:
    """Run ``samples`` in a fresh pool of sandboxed workers and return one result each, in order."""
    with Executor(config) as executor:
        return executor.run(samples, on_result=on_result)
