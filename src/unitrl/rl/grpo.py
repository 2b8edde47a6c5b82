"""Critic-free policy gradient with group baselines: GRPO and RLOO, one trainer parametrised by the baseline.

Both sample ``k`` completions per prompt and use the *other samples of the same prompt* as the baseline,
instead of a learned critic (:mod:`unitrl.rl.actor_critic`):

- **GRPO** (Shao et al., 2024, DeepSeekMath): ``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)``.
  ``scale_rewards`` picks the divisor: ``group`` (the paper), ``batch`` (the std of the whole batch, less
  noisy for small k) or ``none`` (Dr. GRPO, Liu et al. 2025: dividing by a group's std up-weights prompts
  that are nearly always or never solved, a difficulty bias).  std is the unbiased sample std, as in TRL.
- **RLOO** (Ahmadian et al., 2024; Kool et al., 2019): ``A_i = r_i - mean(r_j for j != i)`` -- the
  leave-one-out mean is independent of sample ``i``, so the estimator is exactly unbiased;
  ``A_i = k / (k - 1) * (r_i - mean(r_group))``.  No scaling by default.

A group whose k rewards are all equal (all fail, all pass) gets zero advantage: it carries no signal about
which sample is better.  ``frac_zero_std`` in the metrics says how much of a batch that was.

The update is one gradient step per batch of fresh samples, so the policy that sampled is the policy being
updated: PPO-style ratio clipping would be the identity and is omitted (``num_iterations=1`` in TRL terms).
``loss = -mean_i(A_i * log p(completion_i))`` with ``log p`` summed over tokens (``length_normalize``
divides it by the completion's length, as in the GRPO paper's per-sequence token mean), plus
``kl_coef * KL(policy || reference)`` (k3 estimator per token, summed per sample).  The reference is the
initial policy: a frozen copy, or -- for a LoRA policy -- the same model with its adapters disabled, which
costs no memory.

Checkpoints reuse :mod:`unitrl.rl.checkpoint` unchanged: the trainer exposes the attributes it saves, with an
empty critic and an empty replay buffer (GRPO has neither), so ``latest_checkpoint`` and exact resume work the
same for every algorithm.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unitrl.errors import UnitrlError
from unitrl.rewards import ExecutionReward
from unitrl.rl.actor_critic import completion_logprobs
from unitrl.rl.buffer import ReplayBuffer
from unitrl.rl.config import RunConfig
from unitrl.rl.loop import TrainingRun
from unitrl.rl.rollout import Rollout
from unitrl.tasks import Task

BASELINES = ("group", "loo")
SCALES = ("group", "batch", "none")


@dataclass
class GRPOConfig(RunConfig):
    """Settings of :class:`GroupTrainer` with GRPO's defaults (see each field's comment)."""

    # --- the estimator ------------------------------------------------------------------------------------
    #: Baseline of each sample: ``group`` = mean of its prompt's k rewards (GRPO), ``loo`` = mean of the other
    #: k - 1 rewards (RLOO).
    baseline: str = "group"
    #: Divide advantages by the std of the ``group`` (GRPO), of the whole ``batch``, or ``none`` (Dr. GRPO;
    #: RLOO's default).  See the module docstring for the trade-off.
    scale_rewards: str = "group"
    #: Added to the std before dividing, so a group of equal rewards gives 0, not 0/0.
    std_eps: float = 1e-4
    #: Divide each sample's summed token log-prob by its number of tokens (GRPO paper) instead of using
    #: the sum (REINFORCE; the actor-critic's choice).  Normalising removes a length bias of the gradient's
    #: scale but changes the objective.
    length_normalize: bool = False

    # --- optimisation -------------------------------------------------------------------------------------
    #: Micro-batches per step whose gradients are summed before the single optimiser step (memory knob).
    grad_accumulation: int = 1
    #: Weight of the KL penalty to the initial policy (0 = off; no reference copy is kept).
    kl_coef: float = 0.0

    # --- output -------------------------------------------------------------------------------------------
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/grpo"

    def validate(self) -> None:
        """Reject out-of-range values with a one-line :class:`UnitrlError` naming the field."""
        super().validate()
        if self.k < 2:
            raise UnitrlError(f"config: k must be >= 2 (a group baseline needs other samples), got {self.k}")
        self.check_at_least(1, "grad_accumulation")
        self.check_positive("std_eps")
        self.check_non_negative("kl_coef")
        if self.baseline not in BASELINES:
            raise UnitrlError(
                f"config: baseline must be one of {', '.join(BASELINES)}, got {self.baseline!r}"
            )
        if self.scale_rewards not in SCALES:
            raise UnitrlError(
                f"config: scale_rewards must be one of {', '.join(SCALES)}, got {self.scale_rewards!r}"
            )


@dataclass
class RLOOConfig(GRPOConfig):
    """:class:`GRPOConfig` with RLOO's defaults: leave-one-out baseline, advantages not rescaled."""

    baseline: str = "loo"
    scale_rewards: str = "none"
    out: str = "runs/rloo"


# --- the estimator, as a pure function ---------------------------------------------------------------------


def group_advantages(
    rewards: torch.Tensor | Sequence[float],
    k: int,
    *,
    baseline: str = "group",
    scale_rewards: str = "group",
    eps: float = 1e-4,
) -> torch.Tensor:
    """Advantages of task-major rewards (``k`` consecutive samples per prompt), shape ``[n]``.

    ``baseline="group"``: ``r - mean(group)``; ``"loo"``: ``r - mean(other k-1 in group)``.  Then divided by
    ``std + eps`` of the group (``scale_rewards="group"``) or of the whole batch (``"batch"``), or not at all.
    E.g. rewards ``[1, 0, 0, 1]``, k=4: group-centred ``[.5, -.5, -.5, .5]``, GRPO ``+-0.5 / (0.577 + eps)``
    (unbiased std 0.577), RLOO ``[2/3, -2/3, -2/3, 2/3]``.
    """
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    if scale_rewards not in SCALES:
        raise ValueError(f"scale_rewards must be one of {SCALES}, got {scale_rewards!r}")
    r = torch.as_tensor(rewards, dtype=torch.float32)
    if k < 2 or r.numel() % k:
        raise ValueError(f"{r.numel()} rewards cannot be split into groups of k={k} (k >= 2)")
    groups = r.view(-1, k)
    mean = groups.mean(dim=1, keepdim=True)
    if baseline == "group":
        centred = groups - mean
    else:
        centred = groups - (groups.sum(dim=1, keepdim=True) - groups) / (k - 1)
    if scale_rewards == "group":
        centred = centred / (groups.std(dim=1, keepdim=True) + eps)
    elif scale_rewards == "batch":
        centred = centred / (r.std() + eps)
    return centred.reshape(-1)


class _NoOptimizer:
    """Stands in for the critic's optimiser in :mod:`unitrl.rl.checkpoint` (GRPO has no critic)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


class GroupTrainer(TrainingRun):
    """GRPO / RLOO (``config.baseline``) on unit-test rewards; same interface as the actor-critic trainer.

    ``model``/``tokenizer`` is the policy (trained in place: full fine-tuning, or only its adapters when it
    is a peft model), ``tasks`` the training tasks and ``reward`` an :class:`ExecutionReward` over them.
    :meth:`step` for one update, :meth:`train` for the run.  To resume, build it exactly as the first time
    and call :meth:`load_checkpoint`.
    """

    def __init__(
        self,
        config: GRPOConfig,
        model: Any,
        tokenizer: Any,
        tasks: Sequence[Task],
        reward: ExecutionReward,
    ) -> None:
        self.bind(config, model, tokenizer, tasks, reward)

        self.init_policy_update(config.kl_coef)
        self.rng = random.Random(config.seed)
        #: Completed steps (the next step's number).
        self.step_count = 0
        # What unitrl.rl.checkpoint saves besides the policy: no critic, no replay (kept empty).
        self.critic = torch.nn.Module()
        self.critic_optimizer = _NoOptimizer()
        self.buffer = ReplayBuffer(1, 1)

    # --- one step -------------------------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        """Sample k per prompt, score, compute group advantages, one policy update; returns metrics.

        Metrics (the actor-critic's names where they mean the same): ``reward_mean``, ``pass_rate``,
        ``loss``, ``pg_loss``, ``kl``, ``advantage_mean``, ``advantage_std``, ``grad_norm``, ``reward_std``
        (mean within-group std), ``frac_zero_std`` (groups without signal), ``completion_tokens`` (mean),
        ``n_fresh``, ``step``.
        """
        cfg = self.config
        batch = self.sample_batch()
        rewards = torch.tensor([r.reward for r in batch], dtype=torch.float32)
        advantages = group_advantages(
            rewards, cfg.k, baseline=cfg.baseline, scale_rewards=cfg.scale_rewards, eps=cfg.std_eps
        )
        metrics = self.update_policy(batch, advantages.to(self.device))
        self.step_count += 1
        n = len(batch)
        group_std = rewards.view(-1, cfg.k).std(dim=1)
        return {
            "step": float(self.step_count),
            "reward_mean": float(rewards.mean()),
            "pass_rate": sum(bool(r.result and r.result.passed) for r in batch) / n,
            **metrics,
            "advantage_std": float(advantages.std()),
            "reward_std": float(group_std.mean()),
            "frac_zero_std": float((group_std < 1e-8).float().mean()),
            "completion_tokens": sum(len(r.completion_token_ids) for r in batch) / n,
            "n_fresh": float(n),
        }

    def sequence_logprobs(self, model: Any, chunk: Sequence[Rollout]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(token_logp, mask)`` of ``chunk`` under ``model`` (see ``completion_logprobs``)."""
        token_logp, mask, _ = completion_logprobs(model, chunk, self.pad_id)
        return token_logp, mask

    def update_policy(self, batch: Sequence[Rollout], advantages: torch.Tensor) -> dict[str, float]:
        """One optimiser step on ``batch`` with the given (fixed) advantages; the loss is a batch mean
        whatever ``grad_accumulation`` is (each micro-batch's sum is divided by the batch size)."""
        cfg = self.config
        n = len(batch)
        size = -(-n // cfg.grad_accumulation)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_total, pg_total, kl_total = 0.0, 0.0, 0.0
        for start in range(0, n, size):
            chunk = batch[start : start + size]
            adv = advantages[start : start + size]
            token_logp, mask = self.sequence_logprobs(self.model, chunk)
            seq_logp = (token_logp * mask).sum(-1)
            if cfg.length_normalize:
                seq_logp = seq_logp / mask.sum(-1).clamp(min=1.0)
            pg_loss = -(adv * seq_logp).sum() / n
            loss = pg_loss
            if cfg.kl_coef > 0:
                ref_logp = self.reference_logprobs(chunk)
                delta = ref_logp - token_logp  # k3 estimator (Schulman 2020): >= 0, unbiased, low variance
                kl = ((delta.exp() - delta - 1) * mask).sum(-1)
                loss = loss + cfg.kl_coef * kl.sum() / n
                kl_total += float(kl.detach().sum())
            loss.backward()
            loss_total += float(loss.detach())
            pg_total += float(pg_loss.detach())
        grad_norm = self.step_policy_optimizer()
        self.model.eval()
        return {
            "loss": loss_total,
            "pg_loss": pg_total,
            "kl": kl_total / n,
            "advantage_mean": float(advantages.mean()),
            "grad_norm": float(grad_norm),
        }


#: Named aliases, so code reads like the paper it implements.
GRPOTrainer = GroupTrainer
RLOOTrainer = GroupTrainer
