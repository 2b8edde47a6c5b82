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
    #: Sequences per generation batch (memory knob; does not change the samples when ``seed`` is fixed).
    generation_batch_size: int = 16
    #: Reward shape, one of :data:`unitrl.rewards.REWARDS`.
    reward: str = DEFAULT_REWARD
    #: Seconds one program may run against its tests during training (shorter than evaluation: a stuck
    #: program only costs throughput).
    executor_timeout: float = 5.0
    #: Sandboxed executor workers (None = one per CPU core).
    executor_workers: int | None = None
    #: Save a checkpoint every this many steps (0 = only at the end).
    checkpoint_every: int = 50
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/train"


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
    #: Width of the critic MLP's hidden layer.
    critic_hidden: int = 256
    #: Ablation: never update the critic during training (pretrain it first with
    #: ``ActorCriticTrainer.pretrain_critic``, then freeze).  Default: trained in sync with the policy.
    critic_frozen: bool = False

    # --- output -------------------------------------------------------------------------------------------
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/actor_critic"

    def validate(self) -> None:
        """Reject out-of-range values with a one-line :class:`UnitrlError` naming the field."""
        positive_ints = (
            "steps",
            "grad_accumulation",
            "k",
            "prompts_per_step",
            "max_new_tokens",
            "generation_batch_size",
            "buffer_capacity",
            "buffer_per_prompt_cap",
            "critic_hidden",
        )
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise UnitrlError(f"config: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "critic_learning_rate", "executor_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UnitrlError(f"config: {name} must be a positive number, got {value}")
        for name in ("max_grad_norm", "kl_coef", "temperature"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UnitrlError(f"config: {name} must be >= 0, got {value}")
        if not 0 < self.top_p <= 1:
            raise UnitrlError(f"config: top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.replay_mix < 1:
            raise UnitrlError(f"config: replay_mix must be in [0, 1), got {self.replay_mix}")
        if self.checkpoint_every < 0:
            raise UnitrlError(f"config: checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.executor_workers is not None and self.executor_workers < 1:
            raise UnitrlError(f"config: executor_workers must be >= 1 or none, got {self.executor_workers}")
        if self.reward not in REWARDS:
            raise UnitrlError(f"config: unknown reward {self.reward!r}; choose one of: {', '.join(REWARDS)}")


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["k=8", "kl_coef=0.05"]`` -> ``{"k": 8, "kl_coef": 0.05}``, each value parsed to its field's type."""
    return overrides_lib.parse_overrides(ActorCriticConfig, overrides)
