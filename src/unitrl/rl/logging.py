"""Training metrics to JSON Lines (always), TensorBoard (when installed) and Weights & Biases (when asked).

JSONL is the record of a run (one object per step, readable by anything); TensorBoard is a convenience for
watching curves, so a missing ``tensorboard`` package only drops that view, with one note in the log.  W&B
is opt-in (``unitrl train --wandb PROJECT``): it needs the ``wandb`` package and, unless ``WANDB_MODE=offline``,
an account; a resumed run continues the same W&B run (its id is kept in ``out/wandb_run_id``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import secrets
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
        wandb_project: str | None = None,
        wandb_config: Mapping[str, Any] | None = None,
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
        self.wandb_run: Any = None
        if wandb_project:
            self.wandb_run = _start_wandb(self.out, wandb_project, dict(wandb_config or {}))

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
        if self.wandb_run is not None:
            finite = {
                f"train/{k}": float(v)
                for k, v in metrics.items()
                if k != "step" and isinstance(v, int | float) and math.isfinite(v)
            }
            self.wandb_run.log(finite, step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_wandb(out: Path, project: str, config: dict[str, Any]) -> Any:
    """A W&B run logging into ``out/wandb``; the same run again when ``out`` is resumed."""
    try:
        import wandb
    except ImportError:
        from unitrl.errors import UnitrlError

        raise UnitrlError("--wandb needs the wandb package: pip install wandb (or drop --wandb)") from None
    id_file = out / "wandb_run_id"
    run_id = id_file.read_text(encoding="utf-8").strip() if id_file.is_file() else secrets.token_hex(4)
    id_file.write_text(run_id + "\n", encoding="utf-8")
    return wandb.init(project=project, name=out.name, id=run_id, resume="allow", dir=str(out), config=config)


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
