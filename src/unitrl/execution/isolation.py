"""Linux process-isolation primitives used inside the sandbox: rlimits and ``prctl``.

Runs in the worker (trusted).  Standard library only (ctypes for ``prctl``, which Python 3.11 lacks).
"""

from __future__ import annotations

import ctypes
import os
import resource

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def set_dumpable(flag: bool) -> None:
    """A non-dumpable process cannot be ptraced or have its /proc/PID/mem read by an unprivileged sibling."""
    prctl(PR_SET_DUMPABLE, int(flag))


def become_subreaper() -> None:
    """Orphans of our children are re-parented to us, so we can reap (and kill) every one of them."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def apply_rlimits(*, memory_bytes: int, cpu_seconds: int, file_bytes: int, max_processes: int) -> None:
    """Per-process resource limits of the program (inherited by everything it forks)."""
    limits = {
        resource.RLIMIT_AS: memory_bytes,
        resource.RLIMIT_DATA: memory_bytes,
        resource.RLIMIT_FSIZE: file_bytes,
        resource.RLIMIT_NPROC: max_processes,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: 256,
    }
    for which, value in limits.items():
        _, hard = resource.getrlimit(which)
        new = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (new, new))
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cap = cpu_seconds + 1 if hard == resource.RLIM_INFINITY else min(cpu_seconds + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(cpu_seconds, cap), cap))
