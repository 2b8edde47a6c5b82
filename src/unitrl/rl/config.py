"""Configuration of the actor-critic trainer: one flat dataclass, TRL-style, every field documented here.

Why flat: a run is described by ``key=value`` overrides on the command line (``unitrl train ... k=8
kl_coef=0.05``) and recorded as one JSON object next to its checkpoints, so every knob must be a plain scalar
with a type that can be parsed back from a string.  Mistakes (an unknown key, a value of the wrong type or out
of range) are one-line :class:`~unitrl.errors.UnitrlError` messages that name the key and say what is allowed.

Nothing here imports torch: configs are parsed and validated before anything heavy loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from unitrl.errors import UnitrlError
from unitrl.rewards import DEFAULT_REWARD, REWARDS
from unitrl.rl import overrides as overrides_lib
from unitrl.rl.overrides import ConfigMixin


@dataclass
class RunConfig(ConfigMixin):
    """Settings every RL algorithm shares (policy, tasks, sampling, execution, output); each algorithm's
    config subclasses it, adds its own fields and may change a default (``out``, ``reward``)."""

    #: Policy to start from: a model alias, checkpoint directory, ``.gguf`` file or hub id (``load_model``).
    model: str = "qwen2.5-coder-0.5b-instruct"
    #: Training tasks: a benchmark name (``mbpp`` ...) or a task JSONL file (``load_benchmark``).
    tasks: str = "mbpp"
    #: Split of ``tasks`` to train on (``train`` keeps MBPP's test split unseen).
    split: str = "train"
    #: Seeds everything random in a run: task order, sampling, replay draws, critic/value-head initialisation.
    seed: int = 0
    #: AdamW learning rate of the policy (full fine-tuning; small, because the policy is already good).
    learning_rate: float = 1e-6
    #: Training steps (one step = sample, score, update the policy and any critic).
    steps: int = 100
    #: Clip the policy gradient's global norm to this value (0 = no clipping).
    max_grad_norm: float = 1.0
    #: Samples per prompt (k); more samples per task give the update (and baselines) more signal per prompt.
    k: int = 4
    #: Tasks (prompts) drawn per step; a step's fresh batch is ``prompts_per_step * k`` samples.
    prompts_per_step: int = 8
    #: Longest completion in tokens; longer outputs are cut (and usually fail their tests).
    max_new_tokens: int = 512
    #: Sampling temperature (0 = greedy: all k samples identical, so only useful for debugging).
    temperature: float = 1.0
    #: Nucleus sampling threshold (1 = off).
    top_p: float = 1.0
    #: Sequences per generation batch (memory knob; each batch is seeded from ``seed``, so another size draws
    #: other, equally valid samples).
    generation_batch_size: int = 16
    #: Reward shape, one of :data:`unitrl.rewards.REWARDS`.
    reward: str = DEFAULT_REWARD
    #: Seconds one program may run against its tests during training (shorter than evaluation: a stuck
    #: program only costs throughput).
    executor_timeout: float = 5.0
    #: Sandboxed executor workers (None = one per CPU core).
    executor_workers: int | None = None
    #: Run each generation batch's programs while the next batch generates (same rollouts, less waiting;
    #: ``exec_wait_s`` in the metrics is what is left).  Off: generate everything, then execute.
    overlap_execution: bool = True
    #: Save a checkpoint every this many steps (0 = only at the end).
    checkpoint_every: int = 50
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/train"

    # --- held-out evaluation during training ----------------------------------------------------------------
    #: Evaluate greedy pass@1 on held-out tasks every this many steps, before the first step and at the end
    #: (0 = never).  Results go to ``out/evals.jsonl`` and, as ``heldout_pass@1``, to the step's metrics.
    eval_every: int = 0
    #: Held-out tasks: a benchmark name or task JSONL (``load_benchmark``), never the training split.
    eval_tasks: str = "mbpp"
    #: Split of ``eval_tasks`` ("" = all; MBPP's ``validation``, tasks 511-600, is disjoint from train and test).
    eval_split: str = "validation"
    #: Evaluate on the first this many held-out tasks (0 = all): a bounded cost per evaluation.
    eval_limit: int = 0

    def validate(self) -> None:
        """Reject out-of-range shared values with a one-line :class:`UnitrlError` naming the field; each
        algorithm's config calls this first, then checks its own fields with the same helpers."""
        self.check_at_least(1, "steps", "k", "prompts_per_step", "max_new_tokens", "generation_batch_size")
        self.check_at_least(0, "checkpoint_every", "eval_every", "eval_limit")
        self.check_positive("learning_rate", "executor_timeout")
        self.check_non_negative("max_grad_norm", "temperature")
        if not 0 < self.top_p <= 1:
            raise UnitrlError(f"config: top_p must be in (0, 1], got {self.top_p}")
        if self.executor_workers is not None and self.executor_workers < 1:
            raise UnitrlError(f"config: executor_workers must be >= 1 or none, got {self.executor_workers}")
        if self.reward not in REWARDS:
            raise UnitrlError(f"config: unknown reward {self.reward!r}; choose one of: {', '.join(REWARDS)}")

    def check_at_least(self, minimum: int, *names: str) -> None:
        """Each named integer field is ``>= minimum``."""
        for name in names:
            if getattr(self, name) < minimum:
                raise UnitrlError(f"config: {name} must be >= {minimum}, got {getattr(self, name)}")

    def check_positive(self, *names: str) -> None:
        """Each named number is finite and ``> 0``."""
        for name in names:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UnitrlError(f"config: {name} must be a positive number, got {value}")

    def check_non_negative(self, *names: str) -> None:
        """Each named number is finite and ``>= 0``."""
        for name in names:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UnitrlError(f"config: {name} must be >= 0, got {value}")


#: Values of :attr:`ActorCriticConfig.critic_input`.
CRITIC_INPUTS = ("prompt", "prompt+completion")


@dataclass
class ActorCriticConfig(RunConfig):
    """Settings of :class:`unitrl.rl.actor_critic.ActorCriticTrainer` (see each field's comment)."""

    # --- optimisation -------------------------------------------------------------------------------------
    #: Adam learning rate of the critic (a small MLP trained from scratch: a much larger rate than the policy).
    critic_learning_rate: float = 1e-3
    #: Micro-batches per step: the batch is split into this many forward/backward passes whose gradients are
    #: summed before the single optimiser step (same update, less memory).
    grad_accumulation: int = 1
    #: Weight of the KL penalty to a frozen copy of the initial policy (0 = off, and no copy is kept).
    kl_coef: float = 0.0

    # --- replay -------------------------------------------------------------------------------------------
    #: Fraction of each training batch replayed from the buffer (0 = on-policy only; must be < 1).  Fresh
    #: samples are all used; replayed ones are added so that they make up this fraction of the batch.
    replay_mix: float = 0.0
    #: Most programs the replay buffer holds (deduplicated per task by normalised AST).
    buffer_capacity: int = 10_000
    #: Most programs per task in the replay buffer.
    buffer_per_prompt_cap: int = 64

    # --- critic -------------------------------------------------------------------------------------------
    #: What the critic reads, pooled from the policy's last hidden states: ``"prompt"`` (default) predicts
    #: the expected reward of the task before any token is sampled, a state-value baseline V(prompt) that
    #: leaves the policy gradient unbiased; ``"prompt+completion"`` (the critic as first specified, and as
    #: the CPU comparison table ran it) reads the sampled program too, so it predicts that program's own
    #: reward: the baseline then depends on the action, biases the gradient, and the better it fits the
    #: smaller every advantage becomes.  Kept for comparison.
    critic_input: str = "prompt"
    #: Width of the critic MLP's hidden layer.
    critic_hidden: int = 256
    #: Ablation: never update the critic during training; it is fitted to ``critic_pretrain_batches``
    #: batches of the initial policy's samples first, then kept fixed.  Default: trained in sync with the
    #: policy, every step.
    critic_frozen: bool = False
    #: Batches (``prompts_per_step * k`` samples each) of the initial policy the critic is fitted to before
    #: the first policy step (0 = none: the in-sync critic starts from scratch).  Required by
    #: ``critic_frozen``; these samples are extra to the ``steps`` budget and do not update the policy.
    critic_pretrain_batches: int = 0
    #: Full-batch regression steps of that pretraining.
    critic_pretrain_epochs: int = 100

    # --- output -------------------------------------------------------------------------------------------
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/actor_critic"

    def validate(self) -> None:
        """Reject out-of-range values with a one-line :class:`UnitrlError` naming the field."""
        super().validate()
        self.check_at_least(
            1, "grad_accumulation", "buffer_capacity", "buffer_per_prompt_cap", "critic_hidden"
        )
        self.check_at_least(0, "critic_pretrain_batches", "critic_pretrain_epochs")
        self.check_positive("critic_learning_rate")
        self.check_non_negative("kl_coef")
        if not 0 <= self.replay_mix < 1:
            raise UnitrlError(f"config: replay_mix must be in [0, 1), got {self.replay_mix}")
        if self.critic_input not in CRITIC_INPUTS:
            raise UnitrlError(
                f"config: critic_input must be one of {', '.join(CRITIC_INPUTS)}, got {self.critic_input!r}"
            )
        if self.critic_frozen and self.critic_pretrain_batches == 0:
            raise UnitrlError(
                "config: a frozen critic must be pretrained first: set critic_pretrain_batches >= 1 "
                "(batches of the initial policy's samples it is fitted to before it is frozen)"
            )


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["k=8", "kl_coef=0.05"]`` -> ``{"k": 8, "kl_coef": 0.05}``, each value parsed to its field's type."""
    return overrides_lib.parse_overrides(ActorCriticConfig, overrides)
