"""Which files a mining run reads: ``.py`` files, folders of them, or the standard library.

``stdlib`` means the interpreter's own standard library (``sysconfig.get_paths()['stdlib']``) without what
makes poor or unsafe tasks: test suites (their functions are tests, not specifications), IDLE, tkinter and
turtle (GUI), ``site-packages`` (third-party code), ``ensurepip`` and ``lib2to3``'s fixtures, and bytecode
caches.  The order is sorted, so a run (and its resumption) sees files in the same order every time.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

from unitrl.errors import UnitrlError

#: Folder names never descended into.
_SKIP_DIRS = frozenset(
    {
        "__pycache__",
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "venv",
        ".venv",
        ".git",
        "node_modules",
        "config-3.11-x86_64-linux-gnu",
    }
)
_SKIP_FILES = frozenset({"turtle.py", "antigravity.py", "this.py", "__phello__.foo.py"})


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            if path.name in _SKIP_DIRS or path.name.startswith(".") or path.name.startswith("test_"):
                continue
            found.extend(_walk(path))
        elif path.suffix == ".py" and path.name not in _SKIP_FILES and not path.name.startswith("test_"):
            found.append(path)
    return found


def python_files(sources: list[str]) -> list[Path]:
    """The ``.py`` files named by ``sources`` (files, folders, or ``stdlib``), without duplicates.

    Raises :class:`UnitrlError` for a path that does not exist or a file that is not ``.py``.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for source in sources:
        if source == "stdlib":
            files = _walk(stdlib_dir())
        else:
            path = Path(source)
            if not path.exists():
                raise UnitrlError(f"{source}: no such file or folder (give .py files, folders, or 'stdlib')")
            if path.is_dir():
                files = _walk(path)
            elif path.suffix != ".py":
                raise UnitrlError(f"{source}: not a Python file (give .py files, folders, or 'stdlib')")
            else:
                files = [path]
        for file in files:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                out.append(file)
    return out


def label_for(path: Path) -> str:
    """How a file is named in task ids and ``meta['path']``: ``stdlib/<relative path>`` for the standard
    library (the same on every machine), else the path as given."""
    try:
        return "stdlib/" + path.resolve().relative_to(stdlib_dir().resolve()).as_posix()
    except ValueError:
        return str(path)
