"""Data-parallel training over several processes (GPUs, or CPU processes) with Hugging Face accelerate.

Launch any algorithm with ``accelerate launch`` or ``torchrun``; nothing else changes::

    accelerate launch --multi_gpu --num_processes 4 -m unitrl train --algo actor-critic -m M -t T -o runs/ac
    torchrun --nproc_per_node 2 -m unitrl train --device cpu ...     # CPU processes (gloo): how tests run it

(``accelerate launch --cpu`` starts several CPU processes only through mpirun, hence torchrun for those.)

What each process does, and why it stays correct:

- every process holds the whole policy (a 0.5B-7B code model with LoRA fits one GPU; sharding it with
  FSDP/DeepSpeed is not supported here, and a launch that asks for it stops with a one-line error rather
  than silently training unsharded copies);
- each step's prompts are drawn by the trainer's RNG, identical everywhere, and split between the processes
  (``prompts_per_step`` must be a multiple of their number): each samples its share, executes it and
  back-propagates its share's loss;
- gradients are averaged across processes before every optimiser step (policy, critic, value head), so every
  process applies the same update -- the same arithmetic as DDP, done with accelerate's ``reduce``; losses
  are averages over a process's share, so the averaged gradient is the whole batch's;
- everything else is kept identical on every process: the trainer's RNG, the replay buffer (each process adds
  every process's fresh samples), critic and optimiser states.  So the main process alone writes metrics
  (averaged over processes), runs held-out evaluations and saves checkpoints, and resuming loads the one
  checkpoint into every process.  At each checkpoint the processes compare a checksum of their weights and
  stop with an error if they differ.

Group-relative baselines (GRPO/RLOO) are unaffected: all ``k`` samples of a prompt are on one process.
PPO whitens advantages over each process's share, not the whole batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from unitrl.errors import UnitrlError

T = TypeVar("T")


class DataParallel:
    """This process's place in a data-parallel run; ``DataParallel()`` is the single-process case."""

    def __init__(self, accelerator: Any = None) -> None:
        self.accelerator = accelerator

    @property
    def world_size(self) -> int:
        return 1 if self.accelerator is None else int(self.accelerator.num_processes)

    @property
    def rank(self) -> int:
        return 0 if self.accelerator is None else int(self.accelerator.process_index)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> Any:
        return None if self.accelerator is None else self.accelerator.device

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share of ``items`` (every ``world_size``-th, from ``rank``)."""
        return list(items)[self.rank :: self.world_size]

    def gather(self, items: Sequence[T]) -> list[T]:
        """Every process's ``items``, concatenated in rank order (the same list on every process)."""
        if self.world_size == 1:
            return list(items)
        from accelerate.utils import gather_object

        per_rank = gather_object([list(items)])
        return [item for part in per_rank for item in part]

    def average_gradients(self, parameters: Iterable[Any]) -> None:
        """Replace each parameter's gradient by its mean over processes (a missing gradient counts as 0)."""
        if self.world_size == 1:
            return
        import torch

        params = [p for p in parameters if p.requires_grad]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        flat = self.accelerator.reduce(flat, reduction="mean")
        offset = 0
        for p, g in zip(params, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(g).to(g.dtype)
            offset += n

    def combine_metrics(self, metrics: dict[str, float], summed: Iterable[str] = ()) -> dict[str, float]:
        """The whole step's metrics: ``summed`` keys (counts, throughputs) added up over processes, every
        other one averaged (the processes hold equal shares, so a mean of means is the batch mean)."""
        if self.world_size == 1:
            return metrics
        import torch

        keys = sorted(metrics)
        if len(set(self.gather([tuple(keys)]))) != 1:
            raise UnitrlError(
                "processes logged different metrics; they are out of step (a bug: please report)"
            )
        values = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=self.device)
        totals = self.accelerator.reduce(values, reduction="sum").tolist()
        add = set(summed)
        return {k: t if k in add else t / self.world_size for k, t in zip(keys, totals, strict=True)}

    def check_in_sync(self, parameters: Iterable[Any], what: str = "policy") -> None:
        """Stop if the processes' weights differ (they must all have applied the same updates)."""
        if self.world_size == 1:
            return
        sums = self.gather([sum(float(p.detach().double().sum()) for p in parameters)])
        if max(sums) - min(sums) > 1e-6 * max(1.0, max(abs(s) for s in sums)):
            raise UnitrlError(
                f"the processes' {what} weights diverged (checksums {sums}); a bug: please report"
            )

    def wait(self) -> None:
        """Barrier: every process reaches this point before any goes on."""
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


_current = DataParallel()


def current() -> DataParallel:
    """This process's data-parallel state (set up by :func:`setup`; single-process until then)."""
    return _current


def launched() -> bool:
    """Whether this process was started by ``accelerate launch``/``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(cpu: bool = False) -> DataParallel:
    """Join the launched process group (no-op for a single process); returns :func:`current`."""
    global _current
    if launched() and _current.accelerator is None:
        try:
            from accelerate import Accelerator
        except ImportError:
            raise UnitrlError("multi-process training needs accelerate: pip install accelerate") from None
        accelerator = Accelerator(cpu=cpu)
        refuse_sharding(accelerator)
        _current = DataParallel(accelerator)
    return _current


#: accelerate's launch modes that shard the model or hand it to another engine: unitrl never calls
#: ``accelerator.prepare`` on the policy, so under them each process would silently train a whole
#: unsharded copy instead of what the user configured.
SHARDED_MODES = ("FSDP", "DEEPSPEED", "MEGATRON_LM")


def refuse_sharding(accelerator: Any) -> None:
    """A one-line error when launched with FSDP/DeepSpeed/Megatron (not supported: see the module doc)."""
    mode = str(getattr(getattr(accelerator, "distributed_type", None), "value", ""))
    if mode in SHARDED_MODES:
        raise UnitrlError(
            f"this launch asks for {mode}, but unitrl trains data-parallel only (every process holds the "
            "whole model); launch with `accelerate launch --multi_gpu --num_processes N` (no FSDP or "
            "DeepSpeed config) or `torchrun --nproc_per_node N`"
        )
