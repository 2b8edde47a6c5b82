"""A pre-warmed sandbox worker: receives jobs from the host and runs each sample in a fresh process.

Started by the host as ``python -s -P -m unitrl.execution.worker`` with a cleared environment, normally as
PID 1 of its own bubblewrap sandbox (``--as-pid-1``).  It imports everything a sample needs once; then for
each job it forks the **program** process (untrusted) and acts as the **judge** (trusted) itself:

* the program process gets a new session, /dev/null as stdin/stdout/stderr, only its two RPC pipes open, a
  cleared environment, the sandbox's private /tmp as working directory and rlimits (address space, CPU, file
  size, process count, open files);
* the judge runs ``test_setup`` and the tests here, calling the program over the plain-data RPC channel, with
  a deadline on every wait (see ``judge``);
* when the sample ends, every process in the sandbox except this one is killed (``kill(-1, SIGKILL)`` from
  PID 1 reaches every descendant, wherever it moved to) and /tmp and /dev/shm are emptied, so nothing of one
  sample survives into the next.  The kernel protects PID 1 from signals sent inside its namespace, so a
  program cannot kill its judge.

Without bubblewrap (rlimits-only fallback) the program gets a new process group and a temporary directory;
escaped processes are found through /proc and killed.  Standard library only.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

from unitrl.execution import isolation, judge, program, protocol

#: Modules pre-imported so a forked program finds them loaded (programs import these all the time).
WARM_MODULES = (
    "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "typing",
    "operator", "copy", "fractions", "decimal", "statistics", "datetime", "cmath", "array", "hashlib",
    "json", "random", "dataclasses", "enum", "numbers", "textwrap", "unicodedata", "struct", "abc",
)  # fmt: skip
_PROGRAM_RX, _PROGRAM_TX = 3, 4
_SCRATCH_DIRS = ("/tmp", "/dev/shm")


def _program_process(job: dict[str, Any], rx: int, tx: int, workdir: str) -> None:
    """Final set-up of the program process, then run the untrusted program.  Never returns."""
    try:
        os.setsid()
        os.dup2(rx, _PROGRAM_RX)
        os.dup2(tx, _PROGRAM_TX)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(_PROGRAM_TX + 1, 1 << 16)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                           "LANG": "C.UTF-8"})  # fmt: skip
        random.seed()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        isolation.apply_rlimits(
            memory_bytes=job["memory_bytes"],
            cpu_seconds=job["cpu_seconds"],
            file_bytes=job["file_bytes"],
            max_processes=job["max_processes"],
        )
        isolation.no_new_privs()
    except BaseException:  # noqa: BLE001
        os._exit(71)
    program.main_in_child(job["program"], _PROGRAM_RX, _PROGRAM_TX, job["output_bytes"])


def _empty_dir(path: str) -> None:
    """Delete everything below ``path`` except mount points (read-only binds of the runtime, see sandbox)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if os.path.ismount(entry.path):
                    continue
                _empty_dir(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue


def _kill_everything_else() -> None:
    """As PID 1 of the sandbox: kill every other process in it and reap them all."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
    _reap_all()


def _reap_all(block: bool = True) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_orphans() -> None:
    """Without a PID namespace, processes that escaped the program's group were re-parented to us: end them."""
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            if stat.rsplit(")", 1)[1].split()[1] == me:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, IndexError):
            continue
    _reap_all(block=False)


def run_job(job: dict[str, Any], host_fds: tuple[int, int], pid1: bool) -> dict[str, Any]:
    start = time.monotonic()
    deadline = start + job["timeout"]
    j2c_r, j2c_w = os.pipe()
    c2j_r, c2j_w = os.pipe()
    workdir = "/tmp" if pid1 else tempfile.mkdtemp(prefix="unitrl-")
    prog_pid = os.fork()
    if prog_pid == 0:
        _program_process(job, j2c_r, c2j_w, workdir)
    os.close(j2c_r)
    os.close(c2j_w)

    result: dict[str, Any] = {"program": None, "tests": [None] * len(job["tests"])}

    def report(msg: tuple[Any, ...]) -> None:
        if msg[0] == "program":
            result["program"] = (msg[1], msg[2])
        else:
            result["tests"][msg[1]] = (msg[2], msg[3], msg[4])

    try:
        judge.run_judge(
            setup=job["test_setup"],
            tests=job["tests"],
            rx=c2j_r,
            tx=j2c_w,
            report=report,
            deadline=deadline,
            test_timeout=job["test_timeout"],
            max_value_bytes=job["max_value_bytes"],
            program_names=frozenset(job["program_names"]),
        )
    finally:
        os.close(c2j_r)
        os.close(j2c_w)
        status = None
        try:
            os.kill(prog_pid, signal.SIGKILL)
            _, status = os.waitpid(prog_pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        if pid1:
            _kill_everything_else()
            for path in _SCRATCH_DIRS:
                _empty_dir(path)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(prog_pid, signal.SIGKILL)
            _kill_orphans()
            shutil.rmtree(workdir, ignore_errors=True)
    killed_by = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
    # SIGKILL is ours (sent above); SIGXCPU means the CPU limit ran out.
    result["cpu_limit"] = killed_by == signal.SIGXCPU
    result["duration"] = time.monotonic() - start
    return result


def main() -> None:
    host_in = os.dup(0)
    host_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    config = protocol.recv(host_in)
    pid1 = os.getpid() == 1 and bool(config.get("sandboxed"))
    # PID 1 ignores signals it has no handler for, when they come from inside its namespace.
    signal.signal(signal.SIGINT, signal.SIG_IGN if pid1 else signal.SIG_DFL)
    isolation.set_dumpable(False)
    if not pid1:
        isolation.become_subreaper()
    for name in WARM_MODULES:
        __import__(name)
    gc.freeze()  # forked programs then never touch (and copy) the worker's pages during garbage collection
    protocol.send(host_out, {"ready": True, "pid1": pid1})
    while True:
        try:
            job = protocol.recv(host_in)
        except protocol.ChannelClosed:
            return
        try:
            result = run_job(job, (host_in, host_out), pid1)
        except Exception as e:  # noqa: BLE001 - report, keep serving
            result = {"worker_error": f"{type(e).__name__}: {e}"}
        protocol.send(host_out, result)


if __name__ == "__main__":
    sys.exit(main())
