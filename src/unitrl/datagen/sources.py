"""Which files a mining run reads: ``.py`` files, folders of them, the standard library, package archives
(wheels, sdists), ``pypi:NAME[==VERSION]`` packages and JSONL corpora.

``stdlib`` means the interpreter's own standard library (``sysconfig.get_paths()['stdlib']``) without what
makes poor or unsafe tasks: test suites (their functions are tests, not specifications), IDLE, tkinter and
turtle (GUI), ``site-packages`` (third-party code), ``ensurepip`` and ``lib2to3``'s fixtures, and bytecode
caches.  The order is sorted, so a run (and its resumption) sees files in the same order every time.

Archives (``.whl``, ``.tar.gz``/``.tgz``, ``.zip``) are read member by member without extracting or importing
anything (:mod:`unitrl.datagen.archives`), their modules labelled ``ARCHIVE!member`` and their licence carried
into each task's ``meta['licence']``.  ``pypi:NAME[==VERSION]`` is downloaded into a temporary folder -- a
wheel through ``pip download --no-deps``, else the sdist as a plain file from PyPI's JSON API (pip would run
its build backend) -- then read as an archive labelled by its file name, so labels do not depend on where it
was downloaded.  A ``.jsonl`` corpus (The Stack style) is streamed line by
line.  :func:`resolve_sources` turns command-line sources into :class:`Source` objects; their
:meth:`Source.iter_files` yield :class:`SourceFile` texts.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.datagen.archives import ArchiveReport, archive_kind, is_safe_name, read_archive, wanted_member
from unitrl.errors import UnitrlError
from unitrl.io import atomic_file

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


# -- every kind of source: files and folders, archives, PyPI packages, JSONL corpora ---------------------------

#: Licence recorded for standard-library tasks.
STDLIB_LICENCE = "PSF-2.0"


@dataclass
class SourceFile:
    """One module's text as the pipeline sees it: ``label`` names it in task ids and ``meta['path']``
    (``ARCHIVE!member`` inside archives and corpora); ``text`` is ``None`` when it is not UTF-8; ``meta`` is
    merged into each task's ``meta`` (``licence``)."""

    label: str
    text: str | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Source:
    """One resolved command-line source: ``kind`` is ``files``, ``archive``, ``corpus`` or ``pypi``."""

    spec: str
    kind: str
    files: list[Path] = field(default_factory=list)
    path: Path | None = None
    #: How the archive is named in labels (the path as given; the file name for PyPI downloads, so labels
    #: do not depend on a temporary folder).
    label: str = ""
    licence: str | None = None
    report: ArchiveReport = field(default_factory=ArchiveReport)

    def describe(self) -> str:
        if self.kind == "files":
            return f"{self.spec}: {len(self.files)} .py files"
        what = f"{self.spec}: {self.label}" if self.label != self.spec else self.spec
        if self.kind == "corpus":
            return f"{what} (JSONL corpus)"
        return f"{what} (licence {self.licence or 'unknown'})"

    def iter_files(self) -> Iterator[SourceFile]:
        if self.kind == "files":
            for file in self.files:
                label = label_for(file)
                meta = {"licence": STDLIB_LICENCE} if label.startswith("stdlib/") else {}
                yield SourceFile(label, _read_text(file), meta)
        elif self.kind == "corpus":
            assert self.path is not None
            yield from iter_corpus(self.path, self.label)
        else:
            assert self.path is not None
            licence, members = read_archive(self.path, report=self.report)
            self.licence = licence
            for name, text in members:
                yield SourceFile(f"{self.label}!{name}", text, {"licence": licence or "unknown"})


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


_PYPI_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


def parse_pypi_spec(spec: str) -> tuple[str, str | None]:
    """``pypi:NAME[==VERSION]`` -> ``(NAME, VERSION or None)``; anything else is a :class:`UnitrlError`."""
    body = spec[len("pypi:") :].strip()
    name, _, version = body.partition("==")
    name, version = name.strip(), version.strip()
    if not _PYPI_NAME.match(name) or ("==" in body and not re.match(r"^[A-Za-z0-9.!+_-]+$", version)):
        raise UnitrlError(f"{spec}: give a PyPI source as pypi:NAME or pypi:NAME==VERSION")
    return name, version or None


def _pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


#: PyPI's JSON API (``{base}/NAME/json``); ``UNITRL_PYPI_JSON`` overrides it
#: (a mirror, or a ``file://`` folder in tests).
PYPI_JSON = "https://pypi.org/pypi"


def download_package(name: str, version: str | None, dest: Path) -> Path:
    """Download ``name`` (``==version``) from PyPI into ``dest`` and return the archive: a wheel when there
    is one, else the sdist.

    Nothing of the package runs on the host.  Wheels come through ``pip download --only-binary :all:``
    (fetching a wheel runs no code); an sdist is *not* fetched through pip, which would prepare its
    metadata by running its build backend, but as a plain file from PyPI's JSON API, checked against the
    sha256 PyPI publishes.  Archives are then only read, never built or imported.
    """
    requirement = f"{name}=={version}" if version else name
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    try:
        proc = _pip(["--only-binary", ":all:", "-d", str(dest), requirement])
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UnitrlError(f"pypi:{requirement}: pip download failed ({exc})") from exc
    new = sorted(p for p in set(dest.iterdir()) - before if archive_kind(p))
    if proc.returncode == 0 and new:
        return new[0]
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    reason = tail[-1] if tail else f"exit status {proc.returncode}"
    return download_sdist(name, version, dest, no_wheel_reason=reason)


def download_sdist(name: str, version: str | None, dest: Path, *, no_wheel_reason: str = "") -> Path:
    """The sdist of ``name`` (``==version``, else the latest release) as a file in ``dest``, fetched from
    PyPI's JSON API and verified against its published sha256 (no pip, no build, no package code)."""
    import hashlib
    import urllib.error
    import urllib.parse
    import urllib.request

    requirement = f"{name}=={version}" if version else name
    base = os.environ.get("UNITRL_PYPI_JSON", PYPI_JSON).rstrip("/")
    url = f"{base}/{name}/json"  # the project's record: ``urls`` (latest release) and ``releases``
    why = f"no wheel ({no_wheel_reason}) and " if no_wheel_reason else ""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            project = json.loads(response.read().decode("utf-8"))
        listed = project.get("releases", {}).get(version, []) if version else project.get("urls", [])
        files = [f for f in listed if f.get("packagetype") == "sdist" and not f.get("yanked")]
        if not files:
            raise UnitrlError(f"pypi:{requirement}: {why}no sdist on PyPI either; nothing to mine")
        chosen = files[0]
        filename = Path(str(chosen["filename"])).name
        if not archive_kind(Path(filename)):
            raise UnitrlError(f"pypi:{requirement}: the sdist {filename} is not an archive unitrl can read")
        # a mirror may list files relative to the API page
        with urllib.request.urlopen(urllib.parse.urljoin(url, str(chosen["url"])), timeout=300) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise UnitrlError(
            f"pypi:{requirement}: {why}the sdist could not be fetched from {url} ({exc})"
        ) from exc
    expected = str(chosen.get("digests", {}).get("sha256", ""))
    if hashlib.sha256(data).hexdigest() != expected:
        raise UnitrlError(
            f"pypi:{requirement}: {filename} does not match the sha256 PyPI publishes; not used"
        )
    path = dest / filename
    with atomic_file(path, "wb") as f:
        f.write(data)
    return path


def iter_corpus(path: Path, label: str) -> Iterator[SourceFile]:
    """A The-Stack-style JSONL corpus (``{"path", "content"}`` per line, optionally ``.jsonl.gz``), streamed
    one line at a time.  Records whose path is not ``.py`` or is a test/doc module are skipped; a licence
    field (``licence``, ``license``, ``licenses`` or The Stack's ``max_stars_repo_licenses``) is carried."""
    opener = gzip.open if str(path).endswith(".gz") else open
    seen: set[str] = set()
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UnitrlError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(record, dict) or not isinstance(record.get("content"), str):
                raise UnitrlError(f"{path}:{lineno}: a corpus record needs a string 'content' (and a 'path')")
            member = str(record.get("path") or f"line{lineno}.py")
            if not is_safe_name(member.lstrip("/")) or not wanted_member(member.lstrip("/"), sdist=False):
                continue
            name = f"{label}!{member}"
            if name in seen:  # two records with one path must not share task ids
                name = f"{name}#{lineno}"
            seen.add(name)
            licence = next(
                (
                    record[k]
                    for k in ("licence", "license", "licenses", "max_stars_repo_licenses")
                    if record.get(k)
                ),
                None,
            )
            if isinstance(licence, list):
                licence = "; ".join(map(str, licence))
            meta = {"licence": str(licence)} if licence else {}
            yield SourceFile(name, record["content"], meta)


def _is_corpus(path: str) -> bool:
    return path.endswith((".jsonl", ".jsonl.gz"))


def check_sources(sources: list[str]) -> None:
    """Fail fast (before any worker starts) on a source that cannot work; downloads nothing."""
    for source in sources:
        if source.startswith("pypi:"):
            parse_pypi_spec(source)
        elif source == "stdlib" or Path(source).is_dir() or source.endswith(".py"):
            python_files([source])
        elif archive_kind(source) or _is_corpus(source):
            if not Path(source).is_file():
                raise UnitrlError(f"{source}: no such file")
        elif not Path(source).exists():
            raise UnitrlError(f"{source}: no such file or folder ({_KINDS})")
        else:
            raise UnitrlError(f"{source}: unknown kind of source ({_KINDS})")


_KINDS = "give .py files, folders, 'stdlib', .whl/.tar.gz/.zip archives, .jsonl corpora or pypi:NAME"


def resolve_sources(sources: list[str], workdir: Path) -> list[Source]:
    """Each source resolved, in order: folders listed, PyPI packages downloaded into ``workdir``.

    ``.py`` files met twice (a file inside a folder also given) are mined once.
    """
    check_sources(sources)
    out: list[Source] = []
    seen: set[Path] = set()
    for n, source in enumerate(sources):
        if source.startswith("pypi:"):
            name, version = parse_pypi_spec(source)
            archive = download_package(name, version, workdir / f"pypi-{n}")
            licence, _ = read_archive(archive)  # also fails now on a broken download
            out.append(Source(source, "pypi", path=archive, label=archive.name, licence=licence))
        elif archive_kind(source) and not Path(source).is_dir():
            licence, _ = read_archive(source)
            out.append(Source(source, "archive", path=Path(source), label=source, licence=licence))
        elif _is_corpus(source):
            out.append(Source(source, "corpus", path=Path(source), label=source))
        else:
            files = []
            for file in python_files([source]):
                key = file.resolve()
                if key not in seen:
                    seen.add(key)
                    files.append(file)
            out.append(Source(source, "files", files=files, label=source))
    return out
