"""How a worker is started: inside bubblewrap when it works here, else bare with one loud warning.

bubblewrap gives each worker a read-only view of the whole file system (``--ro-bind / /``) except a private,
size-capped tmpfs on /tmp and /dev/shm, a minimal read-only /dev, no network (a new, empty network namespace),
its own user/PID/IPC/UTS/cgroup namespaces with no capabilities, a cleared environment, and it dies with the
host thread that started it.  The worker runs as PID 1 of that namespace (see ``worker``).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys

from unitrl.errors import UnitrlError
from unitrl.execution.types import SandboxMode

log = logging.getLogger(__name__)

#: The bubblewrap isolation every sandboxed process gets (public: ``benchmarks/datagen.py`` runs Pynguin under
#: the same isolation).
BWRAP_ARGS = (
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
    "--tmpfs", "/tmp",
    "--tmpfs", "/dev/shm",
    "--remount-ro", "/dev",
    "--unshare-all",
    "--cap-drop", "ALL",
    "--as-pid-1",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
    "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
    "--setenv", "LANG", "C.UTF-8",
    "--setenv", "HOME", "/tmp",
    "--chdir", "/tmp",
)  # fmt: skip


@functools.cache
def bwrap_usable() -> str | None:
    """Path of a bubblewrap that can actually create namespaces here, or None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        proc = subprocess.run(
            [path, *BWRAP_ARGS, "--", "/bin/true"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if proc.returncode == 0 else None


_SCRATCH = ("/tmp", "/dev/shm")


def runtime_binds() -> list[str]:
    """Read-only binds that keep this interpreter and unitrl visible when they live under /tmp or /dev/shm.

    The sandbox mounts fresh tmpfs on those, which would hide a checkout or virtualenv there (CI clones into
    temporary directories).  The worker skips mount points when it empties /tmp, so these stay intact.
    """
    import unitrl

    needed = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        os.path.dirname(os.path.dirname(os.path.realpath(unitrl.__file__))),
    }
    bound: list[str] = []
    for path in sorted({os.path.realpath(p) for p in needed}):  # parents sort before their children
        masked = any(path == d or path.startswith(d + "/") for d in _SCRATCH)
        if masked and os.path.isdir(path) and not any(path.startswith(b + "/") for b in bound):
            bound.append(path)
    return [arg for path in bound for arg in ("--ro-bind", path, path)]


_warned = False


def worker_command(
    mode: SandboxMode, hash_seed: int | None = None, scratch_bytes: int = 64 << 20
) -> tuple[list[str], bool]:
    """The command line that starts one worker, and whether it runs under bubblewrap."""
    global _warned
    python = [sys.executable, "-s", "-P", "-m", "unitrl.execution.worker"]
    seed_env = [] if hash_seed is None else ["--setenv", "PYTHONHASHSEED", str(hash_seed)]
    if mode == "none":
        return python, False
    bwrap = bwrap_usable()
    if bwrap is not None:
        sized = []
        for arg in BWRAP_ARGS:  # cap the size of the two writable tmpfs mounts
            if arg == "--tmpfs":
                sized += ["--size", str(scratch_bytes)]
            sized.append(arg)
        return [bwrap, *sized, *runtime_binds(), *seed_env, "--", *python], True
    if mode == "bwrap":
        raise UnitrlError(
            "sandbox 'bwrap' requested but bubblewrap is missing or cannot create namespaces here; "
            "install it (apt-get install bubblewrap) or use --sandbox auto"
        )
    if not _warned:
        _warned = True
        msg = (
            "WARNING: bubblewrap (bwrap) is not usable here: untrusted code runs with rlimits and process "
            "groups only, WITHOUT file-system, network or PID isolation. Install the 'bubblewrap' package."
        )
        log.warning(msg)
        print(msg, file=sys.stderr)
    return python, False
