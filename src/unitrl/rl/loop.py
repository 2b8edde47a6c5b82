"""The run loop every trainer shares: step until ``config.steps``, log each step, checkpoint on schedule.

A trainer provides ``config`` (with ``out``, ``steps``, ``checkpoint_every`` and ``to_dict()``), a
``step_count`` and ``step() -> metrics``; :class:`TrainingRun` turns that into a resumable run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from unitrl.errors import UnitrlError


class TrainingRun:
    """Mixin: :meth:`train`, :meth:`save_checkpoint` and :meth:`load_checkpoint` for a trainer."""

    config: Any
    step_count: int

    def bind(self, config: Any, model: Any, tokenizer: Any, tasks: Sequence[Any], reward: Any) -> None:
        """The set-up every trainer starts with: a validated config, the policy and its pad id, the tasks."""
        config.validate()
        if not tasks:
            raise UnitrlError("no training tasks: give a task file or benchmark split with at least one task")
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.tasks = list(tasks)
        self.reward = reward
        self.device = next(model.parameters()).device
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0

    def step(self) -> dict[str, float]:  # pragma: no cover - every trainer defines it
        raise NotImplementedError

    def train(self, on_step: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Run the remaining steps up to ``config.steps`` (resumes from :attr:`step_count`): metrics appended
        to ``out/metrics.jsonl``, checkpoints every ``checkpoint_every`` steps and at the end."""
        from unitrl.rl.checkpoint import save_checkpoint

        out = Path(self.config.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        history = []
        every = self.config.checkpoint_every
        while self.step_count < self.config.steps:
            metrics = self.step()
            history.append(metrics)
            with (out / "metrics.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(metrics) + "\n")
            if on_step is not None:
                on_step(metrics)
            if (every and self.step_count % every == 0) or self.step_count == self.config.steps:
                save_checkpoint(self, out / "checkpoints" / f"step-{self.step_count:06d}")
        return history

    def save_checkpoint(self, path: str | Path) -> Path:
        """See :func:`unitrl.rl.checkpoint.save_checkpoint`."""
        from unitrl.rl.checkpoint import save_checkpoint

        return save_checkpoint(self, path)

    def load_checkpoint(self, path: str | Path) -> None:
        """See :func:`unitrl.rl.checkpoint.load_checkpoint`."""
        from unitrl.rl.checkpoint import load_checkpoint

        load_checkpoint(self, path)
