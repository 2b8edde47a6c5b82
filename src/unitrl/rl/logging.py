"""Training metrics to JSON Lines (always) and TensorBoard (when the ``tensorboard`` package is installed).

JSONL is the record of a run (one object per step, readable by anything); TensorBoard is a convenience for
watching curves, so a missing ``tensorboard`` package only drops that view, with one note in the log.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def tensorboard_available() -> bool:
    """True when ``torch.utils.tensorboard`` can work (it needs the ``tensorboard`` package)."""
    return importlib.util.find_spec("tensorboard") is not None


class RunLogger:
    """Append each step's metrics to ``out/metrics.jsonl`` and/or TensorBoard event files in ``out/tb``.

    ``jsonl=False`` when something else already writes ``metrics.jsonl`` (the trainers' ``train()`` does),
    so rows are not duplicated.  ``tensorboard=None`` means "if installed".  ``resume_step`` (the step of the
    checkpoint a run continues from) makes TensorBoard drop the curves' points after it, which the killed
    run wrote but the resumed run recomputes.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        *,
        jsonl: bool = True,
        tensorboard: bool | None = None,
        resume_step: int | None = None,
    ) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.jsonl_path: Path | None = self.out / "metrics.jsonl" if jsonl else None
        use_tb = tensorboard_available() if tensorboard is None else tensorboard
        self.writer: Any = None
        if use_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # a tensorboard that torch cannot use: the JSONL record is what matters
                SummaryWriter = None
            if SummaryWriter is not None:
                purge = resume_step + 1 if resume_step is not None else None
                self.writer = SummaryWriter(log_dir=str(self.out / "tb"), purge_step=purge)

    def log(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record one step (``step`` defaults to ``metrics["step"]``)."""
        step = int(step if step is not None else metrics.get("step", 0))
        if self.jsonl_path is not None:
            with self.jsonl_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(dict(metrics)) + "\n")
        if self.writer is not None:
            for key, value in metrics.items():
                if key != "step" and isinstance(value, int | float) and math.isfinite(value):
                    self.writer.add_scalar(f"train/{key}", float(value), step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def truncate_metrics(path: str | os.PathLike[str], last_step: int) -> int:
    """Drop rows of a ``metrics.jsonl`` whose ``step`` is after ``last_step``; returns the rows kept.

    Why: a run killed after step 7 with its last checkpoint at step 5 has logged steps 6 and 7, which the
    resumed run computes again; without this the file would hold those steps twice.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            step = json.loads(line).get("step", 0)
        except (json.JSONDecodeError, AttributeError):
            continue  # a line cut by the kill: the resumed run writes that step again
        if step <= last_step:
            kept.append(line)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
    return len(kept)
