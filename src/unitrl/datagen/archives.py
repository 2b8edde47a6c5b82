"""Python modules read straight out of wheels and sdists, never extracted to disk and never imported.

A package archive is untrusted input: it may be a zip bomb (a tiny file that inflates to gigabytes), carry
member names like ``../../etc/passwd`` or ``/abs/path``, or hold links and devices.  Nothing here ever
writes a member anywhere, but names that would escape an extraction folder are still ignored (they mark a
hostile or broken archive, and their text would be labelled misleadingly), each member is read with a size
cap, and the bytes inflated from one archive are capped in total.  Only ``.py`` members that are library
code are yielded: test suites, docs, examples, ``setup.py`` and ``conftest.py`` are skipped, as the folder
walk of :mod:`unitrl.datagen.sources` does.

The licence is read from the package metadata (``*.dist-info/METADATA`` of a wheel, ``PKG-INFO`` of an
sdist) so that every mined task can say under which terms its reference was published.
"""

from __future__ import annotations

import logging
import tarfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

from unitrl.errors import UnitrlError

logger = logging.getLogger(__name__)

#: Folder names whose modules are never mined (tests are not specifications; docs/examples are demos).
SKIP_MEMBER_DIRS = frozenset(
    {
        "__pycache__",
        "test",
        "tests",
        "testing",
        "doc",
        "docs",
        "example",
        "examples",
        "benchmarks",
        "site-packages",
        ".git",
    }
)
SKIP_MEMBER_FILES = frozenset({"setup.py", "conftest.py", "noxfile.py", "fabfile.py"})

#: Suffixes recognised as archives, in the order they are tested.
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip")


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps that make a zip bomb cost a bounded amount of memory and time."""

    #: A member bigger than this (declared, or actually read) is skipped: no real module is 2 MB.
    max_member_bytes: int = 2_000_000
    #: Reading stops once this many bytes were inflated from one archive (members read plus, for tars,
    #: the stream skipped through).
    max_total_bytes: int = 200_000_000
    #: Members looked at per archive.
    max_members: int = 100_000


@dataclass
class ArchiveReport:
    """What was left out of an archive and why (``unsafe_name``, ``too_large``, ``total_cap``, ...)."""

    skipped: Counter[str] = field(default_factory=Counter)


def archive_kind(path: str | Path) -> str | None:
    """``"wheel"``, ``"tar"`` (sdist ``.tar.gz``/``.tgz``), ``"zip"`` (sdist ``.zip``), or ``None``."""
    name = str(path).lower()
    if name.endswith(".whl"):
        return "wheel"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    return None


def is_safe_name(name: str) -> bool:
    """False for member names that would leave an extraction folder: absolute, ``..``, drive or backslash
    paths, NUL bytes."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/"):
        return False
    first = name.split("/", 1)[0]
    if len(first) >= 2 and first[1] == ":":  # C:foo
        return False
    return ".." not in PurePosixPath(name).parts


def wanted_member(name: str, *, sdist: bool, include_init: bool = True) -> bool:
    """Whether a (safe) member name is a library module worth mining.

    An sdist's first component is its ``name-version/`` root, which is not judged (a project may be called
    ``docs``).
    """
    parts = PurePosixPath(name).parts
    if sdist:
        parts = parts[1:]
    if not parts or not parts[-1].endswith(".py"):
        return False
    base = parts[-1]
    if base in SKIP_MEMBER_FILES or base.startswith("test_") or base.endswith("_test.py"):
        return False
    if not include_init and base == "__init__.py":
        return False
    return not any(p in SKIP_MEMBER_DIRS or p.startswith(".") or p.endswith(".dist-info") for p in parts[:-1])


def licence_from_metadata(text: str) -> str | None:
    """The licence of a ``METADATA``/``PKG-INFO`` file: ``License-Expression``, else a short ``License``
    field, else the ``License ::`` classifiers (joined with ``; ``)."""
    headers = HeaderParser().parsestr(text, headersonly=True)
    expression = (headers.get("License-Expression") or "").strip()
    if expression:
        return expression
    field_value = (headers.get("License") or "").strip()
    # some packages paste the whole licence text here: its first line usually names it
    first_line = field_value.splitlines()[0].strip() if field_value else ""
    if first_line and first_line.upper() != "UNKNOWN" and len(first_line) <= 100:
        return first_line
    classifiers = [
        c.split("::")[-1].strip()
        for c in headers.get_all("Classifier") or []
        if c.startswith("License ::") and c.split("::")[-1].strip() not in ("OSI Approved", "")
    ]
    return "; ".join(classifiers) or None


def _metadata_member(names: list[str], kind: str) -> str | None:
    if kind == "wheel":
        found = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    else:
        found = sorted((n for n in names if n.endswith("PKG-INFO") and is_safe_name(n)), key=len)
    return found[0] if found else None


#: What reading a corrupt or exotic member can raise (bad CRC, truncated stream, unknown compression).
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _open_error(path: Path, exc: BaseException) -> UnitrlError:
    return UnitrlError(f"{path}: not a readable wheel or sdist ({type(exc).__name__}: {exc})")


def read_archive(
    path: str | Path,
    limits: ArchiveLimits | None = None,
    *,
    include_init: bool = True,
    report: ArchiveReport | None = None,
) -> tuple[str | None, Iterator[tuple[str, str | None]]]:
    """``(licence, members)`` of a wheel or sdist; ``members`` yields ``(member name, text)`` lazily, text
    ``None`` when a member is not UTF-8.

    Raises :class:`UnitrlError` for a file that is not a wheel/sdist or cannot be opened.
    """
    path = Path(path)
    limits = limits or ArchiveLimits()
    report = report if report is not None else ArchiveReport()
    kind = archive_kind(path)
    if kind is None:
        raise UnitrlError(f"{path}: not an archive (give a .whl, .tar.gz, .tgz or .zip)")
    if not path.is_file():
        raise UnitrlError(f"{path}: no such file")
    if kind in ("wheel", "zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                meta = _metadata_member(names, kind)
                licence = None
                if meta is not None and zf.getinfo(meta).file_size <= limits.max_member_bytes:
                    licence = licence_from_metadata(_decode(zf.read(meta)) or "")
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise _open_error(path, exc) from exc
        return licence, _zip_members(path, limits, kind == "zip", include_init, report)
    try:
        licence = _tar_licence(path, limits)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise _open_error(path, exc) from exc
    return licence, _tar_members(path, limits, include_init, report)


def _zip_members(
    path: Path, limits: ArchiveLimits, sdist: bool, include_init: bool, report: ArchiveReport
) -> Iterator[tuple[str, str | None]]:
    total = 0
    with zipfile.ZipFile(path) as zf:
        infos = sorted(zf.infolist(), key=lambda i: i.filename)[: limits.max_members]
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            if not is_safe_name(name):
                report.skipped["unsafe_name"] += 1
                logger.warning("%s: ignoring unsafe member name %r", path, name)
                continue
            if not wanted_member(name, sdist=sdist, include_init=include_init):
                continue
            if info.file_size > limits.max_member_bytes:
                report.skipped["too_large"] += 1
                continue
            if total + info.file_size > limits.max_total_bytes:
                report.skipped["total_cap"] += 1
                logger.warning("%s: stopped after %d bytes (archive cap)", path, total)
                return
            try:
                with zf.open(info) as f:
                    data = f.read(limits.max_member_bytes + 1)  # the declared size may lie
            except _READ_ERRORS as exc:  # a corrupt member must not end a run over many archives
                report.skipped["unreadable"] += 1
                logger.warning("%s: cannot read %s (%s)", path, name, exc)
                continue
            total += len(data)
            if len(data) > limits.max_member_bytes:
                report.skipped["too_large"] += 1
                continue
            yield name, _decode(data)


def _tar_licence(path: Path, limits: ArchiveLimits) -> str | None:
    """PKG-INFO of an sdist: normally the second member, so only the head of the stream is read."""
    with tarfile.open(path, mode="r:*") as tf:
        for count, member in enumerate(tf):
            if count > 50 or member.offset_data > limits.max_total_bytes:
                return None
            parts = PurePosixPath(member.name).parts
            if member.isfile() and len(parts) == 2 and parts[1] == "PKG-INFO" and is_safe_name(member.name):
                if member.size > limits.max_member_bytes:
                    return None
                f = tf.extractfile(member)
                return licence_from_metadata(_decode(f.read()) or "") if f else None
    return None


def _tar_members(
    path: Path, limits: ArchiveLimits, include_init: bool, report: ArchiveReport
) -> Iterator[tuple[str, str | None]]:
    try:
        yield from _tar_members_unguarded(path, limits, include_init, report)
    except (*_READ_ERRORS, tarfile.TarError) as exc:  # a truncated stream ends this archive, not the run
        report.skipped["unreadable"] += 1
        logger.warning("%s: stopped reading (%s)", path, exc)


def _tar_members_unguarded(
    path: Path, limits: ArchiveLimits, include_init: bool, report: ArchiveReport
) -> Iterator[tuple[str, str | None]]:
    with tarfile.open(path, mode="r:*") as tf:
        for count, member in enumerate(tf):
            if count >= limits.max_members:
                return
            # offset_data is how far the (decompressed) stream has been read: the whole-archive cap
            if member.offset_data + member.size > limits.max_total_bytes:
                report.skipped["total_cap"] += 1
                logger.warning("%s: stopped at %s (archive cap)", path, member.name)
                return
            if not member.isfile():  # links, devices, folders
                continue
            if not is_safe_name(member.name):
                report.skipped["unsafe_name"] += 1
                logger.warning("%s: ignoring unsafe member name %r", path, member.name)
                continue
            if not wanted_member(member.name, sdist=True, include_init=include_init):
                continue
            if member.size > limits.max_member_bytes:
                report.skipped["too_large"] += 1
                continue
            f = tf.extractfile(member)  # a file object over the stream: nothing is written to disk
            if f is None:
                continue
            data = f.read(limits.max_member_bytes + 1)
            if len(data) > limits.max_member_bytes:
                report.skipped["too_large"] += 1
                continue
            yield member.name, _decode(data)
