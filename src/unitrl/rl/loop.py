"""The run loop every trainer shares: sample a batch, step until ``config.steps``, log, evaluate, checkpoint.

A trainer provides ``config`` (a :class:`~unitrl.rl.config.RunConfig`), a ``step_count``, an ``rng`` and
``step() -> metrics``; :class:`TrainingRun` gives it the rest:

- :meth:`TrainingRun.sample_batch` -- draw ``prompts_per_step`` tasks and collect ``k`` scored rollouts each,
  the same way for every algorithm (and timed: ``tokens_per_s``, ``exec_per_s`` in each step's metrics);
- :meth:`TrainingRun.train` -- a resumable run: metrics to ``out/metrics.jsonl``, checkpoints on schedule,
  and, with ``eval_every``, greedy pass@1 on held-out tasks to ``out/evals.jsonl`` (before the first step,
  every ``eval_every`` steps and at the end), so a curve of held-out quality comes with every run.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from unitrl.errors import UnitrlError

#: Spacing of per-step sampling seeds: ``sample_completions`` reseeds each generation batch with
#: ``seed + batch_index``, so steps must be further apart than a step has generation batches.
STEP_SEED_STRIDE = 1009
#: Offset (in strides) of the seeds of critic-pretraining batches, far from every training step's seed.
PRETRAIN_SEED_OFFSET = 1_000_000

#: Held-out evaluations of a run, one JSON object per line.
EVALS_FILE = "evals.jsonl"


def avoid_cudnn_attention_backward(device: Any) -> None:
    """On a GPU, train without cuDNN's attention kernel (flash / memory-efficient attention take over).

    Its bfloat16 backward pass returns NaN gradients for some sequence lengths while the loss stays finite;
    Qwen2.5's very large attention logits in some heads trigger it (huggingface/trl#7181, reduced there to
    a torch-only reproduction).  That is what CodeRL hit at step 6 of the H200 run (docs/results.md).
    A process-wide switch, set only when the policy is on a GPU.
    """
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.backends.cuda.enable_cudnn_sdp(False)


class TrainingRun:
    """Mixin: :meth:`sample_batch`, :meth:`train`, :meth:`save_checkpoint`, :meth:`load_checkpoint`."""

    config: Any
    step_count: int
    rng: Any
    #: Metrics that count things (samples, throughput): summed over data-parallel processes, not averaged.
    summed_metrics: frozenset[str] = frozenset(
        {"n_fresh", "n_replayed", "critic_pretrain_samples", "tokens_per_s", "exec_per_s"}
    )

    def bind(self, config: Any, model: Any, tokenizer: Any, tasks: Sequence[Any], reward: Any) -> None:
        """The set-up every trainer starts with: a validated config, the policy and its pad id, the tasks."""
        from unitrl.rl.distributed import current
        from unitrl.rl.rollout import RolloutTimings

        config.validate()
        if not tasks:
            raise UnitrlError("no training tasks: give a task file or benchmark split with at least one task")
        #: This process's place in a data-parallel run (:mod:`unitrl.rl.distributed`); single by default.
        self.dist = current()
        if config.prompts_per_step % self.dist.world_size:
            raise UnitrlError(
                f"prompts_per_step ({config.prompts_per_step}) must be a multiple of the number of processes "
                f"({self.dist.world_size}): each process samples an equal share of a step's prompts"
            )
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.tasks = list(tasks)
        self.reward = reward
        self.device = next(model.parameters()).device
        avoid_cudnn_attention_backward(self.device)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0
        #: Generation/execution time of the current step's rollouts (reset by :meth:`train` every step).
        self.timings = RolloutTimings()
        #: Policy updates dropped for a non-finite gradient in the current step (reset by :meth:`train`).
        self.skipped_updates = 0
        self._eval_tasks: list[Any] | None = None

    def sample_batch(self, seed: int | None = None) -> list[Any]:
        """``k`` scored rollouts for each of ``prompts_per_step`` tasks drawn by the trainer's RNG.

        ``seed`` defaults to this step's (``config.seed + STEP_SEED_STRIDE * step_count``), so a resumed run
        draws exactly the samples the killed one would have.  In a data-parallel run every process draws the
        same tasks and samples its share of them.
        """
        from unitrl.rl.rollout import collect_rollouts

        cfg = self.config
        tasks = self.dist.shard(self.rng.sample(self.tasks, min(cfg.prompts_per_step, len(self.tasks))))
        return collect_rollouts(
            self.model,
            self.tokenizer,
            tasks,
            self.reward,
            k=cfg.k,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.generation_batch_size,
            seed=cfg.seed + STEP_SEED_STRIDE * self.step_count if seed is None else seed,
            timings=self.timings,
            overlap=cfg.overlap_execution,
        )

    def step(self) -> dict[str, float]:  # pragma: no cover - every trainer defines it
        raise NotImplementedError

    def train(self, on_step: Callable[[dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        """Run the remaining steps up to ``config.steps`` (resumes from :attr:`step_count`): metrics appended
        to ``out/metrics.jsonl``, held-out evaluations (``eval_every``) to ``out/evals.jsonl``, checkpoints
        every ``checkpoint_every`` steps and at the end."""
        from unitrl.rl.checkpoint import save_checkpoint
        from unitrl.rl.rollout import RolloutTimings

        out = Path(self.config.out)
        main = self.dist.is_main  # in a data-parallel run only the main process logs, evaluates and saves
        out.mkdir(parents=True, exist_ok=True)
        if main:
            config_json = json.dumps(self.config.to_dict(), indent=2) + "\n"
            (out / "config.json").write_text(config_json, encoding="utf-8")
        history = []
        every = self.config.checkpoint_every
        if main and self._eval_due() and not _evaluated_at(out / EVALS_FILE, self.step_count):
            self.evaluate_heldout()
        while self.step_count < self.config.steps:
            self.timings = RolloutTimings()
            self.skipped_updates = 0
            started = time.monotonic()
            metrics = self.step()
            metrics.update(self.timings.metrics())
            metrics["skipped_updates"] = float(self.skipped_updates)
            metrics["step_seconds"] = time.monotonic() - started
            metrics = self.dist.combine_metrics(metrics, summed=self.summed_metrics)
            if main and self._eval_due():
                metrics["heldout_pass@1"] = self.evaluate_heldout()["pass@1"]
            history.append(metrics)
            if main:
                with (out / "metrics.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json.dumps(metrics) + "\n")
                if on_step is not None:
                    on_step(metrics)
            if (every and self.step_count % every == 0) or self.step_count == self.config.steps:
                self.dist.check_in_sync(self.trainable_parameters())
                if main:
                    save_checkpoint(self, out / "checkpoints" / f"step-{self.step_count:06d}")
                self.dist.wait()
        return history

    # --- the policy update's shared pieces ---------------------------------------------------------------

    def trainable_parameters(self) -> list[Any]:
        """The policy's parameters that the update changes (all, or only the LoRA adapters)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def init_policy_update(self, kl_coef: float = 0.0) -> None:
        """The policy's AdamW over its trainable parameters and, when ``kl_coef > 0``, the KL reference: the
        base of a LoRA policy (adapters off: the initial policy at no memory cost), else a frozen copy."""
        import torch

        from unitrl.rl.lora import is_peft_model

        self.reference: Any = None
        self.reference_is_base = kl_coef > 0 and is_peft_model(self.model)
        if kl_coef > 0 and not self.reference_is_base:
            self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
        params = self.trainable_parameters()
        if not params:
            raise UnitrlError("the policy has no trainable parameters")
        self.optimizer = torch.optim.AdamW(params, lr=self.config.learning_rate, weight_decay=0.0)

    def reference_logprobs(self, rollouts: Sequence[Any]) -> Any:
        """Per-token log-probs of ``rollouts`` under the initial policy (no gradient), aligned as
        :func:`unitrl.rl.logprobs.token_logprobs`."""
        import torch

        from unitrl.rl.logprobs import token_logprobs

        pairs = [(r.prompt_token_ids, r.completion_token_ids) for r in rollouts]
        with torch.no_grad():
            if self.reference_is_base:
                with self.model.disable_adapter():
                    return token_logprobs(self.model, pairs, self.pad_id)[0]
            return token_logprobs(self.reference, pairs, self.pad_id)[0]

    def step_policy_optimizer(self, also: Sequence[Any] = ()) -> float:
        """Clip the accumulated gradient to ``max_grad_norm`` (0 = no clipping), take one optimiser step and
        clear the gradients; returns the norm before clipping.  ``also``: more optimisers stepped together
        with the policy's (PPO's value head), whose gradients are averaged over processes too but not clipped.

        A gradient that is not finite (inf/NaN: an overflow in a bfloat16 forward pass, say) is dropped
        instead of applied: one such step would turn every weight into NaN and end the run at the next
        sampling (seen with CodeRL on a GPU).  Dropped updates are counted in the step's
        ``skipped_updates`` metric, so a run that keeps skipping is visible, not silently frozen.
        """
        import torch

        params = self.trainable_parameters()
        self.dist.average_gradients(params)
        for optimizer in also:
            self.dist.average_gradients(p for group in optimizer.param_groups for p in group["params"])
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizers = [self.optimizer, *also]
        if torch.isfinite(grad_norm):
            for optimizer in optimizers:
                optimizer.step()
        else:
            self.skipped_updates += 1
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        return float(grad_norm)

    # --- held-out evaluation --------------------------------------------------------------------------------

    def _eval_due(self) -> bool:
        every = self.config.eval_every
        return bool(every) and (self.step_count % every == 0 or self.step_count == self.config.steps)

    def heldout_tasks(self) -> list[Any]:
        """The ``eval_tasks``/``eval_split`` tasks (first ``eval_limit``), loaded once."""
        if self._eval_tasks is None:
            from unitrl.benchmarks import load_benchmark

            cfg = self.config
            tasks = list(load_benchmark(cfg.eval_tasks, cfg.eval_split or None))
            if cfg.eval_limit:
                tasks = tasks[: cfg.eval_limit]
            if not tasks:
                raise UnitrlError(f"config: eval_tasks {cfg.eval_tasks}:{cfg.eval_split} has no tasks")
            overlap = {t.task_id for t in tasks} & {t.task_id for t in self.tasks}
            if overlap:
                raise UnitrlError(
                    f"config: {len(overlap)} held-out tasks are also training tasks (e.g. {sorted(overlap)[0]}); "
                    "choose a disjoint eval_tasks/eval_split"
                )
            self._eval_tasks = tasks
        return self._eval_tasks

    def evaluate_heldout(self) -> dict[str, Any]:
        """Greedy pass@1 of the current policy on the held-out tasks, appended to ``out/evals.jsonl``.

        Greedy and with the run's ``max_new_tokens``, so successive points differ only by the policy.  Runs
        inside a forked torch RNG, so an evaluation never changes the samples of the steps after it.
        """
        import torch

        from unitrl.evaluation.runner import EvalConfig, evaluate

        cfg = self.config
        tasks = self.heldout_tasks()
        eval_config = EvalConfig(
            benchmark=cfg.eval_tasks,
            split=cfg.eval_split,
            temperature=0.0,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.generation_batch_size,
            workers=cfg.executor_workers,
            timeout=cfg.executor_timeout,
            progress=False,
        )
        started = time.monotonic()
        with torch.random.fork_rng(devices=[]):
            summary = evaluate((self.model, self.tokenizer), tasks, eval_config)
        self.model.eval()
        record = {
            "step": self.step_count,
            "benchmark": cfg.eval_tasks,
            "split": cfg.eval_split,
            "n_tasks": len(tasks),
            "passed": sum(correct for _, correct in summary.per_task.values()),
            "pass@1": summary.pass_at_k.get("pass@1") or 0.0,
            "seconds": time.monotonic() - started,
        }
        with (Path(cfg.out) / EVALS_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return record

    # --- checkpoints ----------------------------------------------------------------------------------------

    def save_checkpoint(self, path: str | Path) -> Path:
        """See :func:`unitrl.rl.checkpoint.save_checkpoint`."""
        from unitrl.rl.checkpoint import save_checkpoint

        return save_checkpoint(self, path)

    def load_checkpoint(self, path: str | Path) -> None:
        """See :func:`unitrl.rl.checkpoint.load_checkpoint`."""
        from unitrl.rl.checkpoint import load_checkpoint

        load_checkpoint(self, path)


def _evaluated_at(path: Path, step: int) -> bool:
    """True when ``evals.jsonl`` already holds an evaluation at ``step`` (a resumed run does not redo it)."""
    return any(row.get("step") == step for row in read_evals(path))


def read_evals(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of an ``evals.jsonl`` (a line cut by a kill is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
