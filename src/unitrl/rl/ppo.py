"""PPO for code LMs on unit-test rewards (Schulman et al., 2017; the RLHF recipe of Ziegler et al., 2019 and
Ouyang et al., 2022, with the test verdict as the reward), written to be read top to bottom.

One :meth:`PPOTrainer.step`:

1. **Sample.**  ``prompts_per_step`` tasks, ``k`` completions each, run against their tests
   (:func:`collect_rollouts`, shared with every trainer).
2. **Score the batch once, without gradients** (the "old" policy): per completion token its log-prob under
   the policy, its log-prob under the reference (the initial policy: a frozen copy, or the same LoRA model
   with its adapters off, as :mod:`unitrl.rl.grpo` does), and its value from the value head.
3. **Per-token rewards.**  ``r_t = -kl_coef * (log pi_old(t) - log pi_ref(t))`` at every completion token,
   plus the sequence's unit-test reward at its last token: the KL penalty is part of the reward, as in
   InstructGPT and TRL, so it is shaped per token and discounted like the reward.
4. **GAE** (:func:`gae`, Schulman et al. 2016) over the completion tokens: ``delta_t = r_t + gamma V_{t+1} -
   V_t``, ``A_t = delta_t + gamma lam A_{t+1}``; the value after the last token is 0 (the episode ends).
   Returns ``R_t = A_t + V_t`` are the value head's targets.  Advantages are whitened over the batch's tokens.
5. **``ppo_epochs`` passes** over the batch in ``num_minibatches`` shuffled minibatches: the clipped surrogate
   ``max(-A r, -A clip(r, 1 - eps, 1 + eps))`` with ``r = pi / pi_old`` per token, and the clipped value loss
   ``0.5 max((V - R)^2, (clip(V, V_old +- eps_v) - R)^2)``; token means over the minibatch.

**The value head reads detached hidden states.**  It is a small MLP (LayerNorm -> Linear -> tanh -> Linear,
the :class:`~unitrl.rl.critic.Critic`'s shape, applied per token) on the policy's last hidden state at each
position, with the gradient stopped at the hidden state, and its own Adam optimiser.  A shared trunk would let
value regression move the language model for reasons unrelated to the reward, and would need a tuned
``vf_coef`` to stop the two losses fighting; with a detached head neither happens, the value costs no backward
pass through the LM, and a LoRA run keeps training adapters only.  The price: the head cannot reshape the
features it reads -- acceptable because the LM's last hidden state already summarises the program so far.

**Dropout is off** in every forward pass (the model stays in ``eval()`` mode): the first pass of the first
epoch must give ratio 1 exactly, or clipping acts on noise.

Checkpoints reuse :mod:`unitrl.rl.checkpoint` unchanged: the value head is saved as the "critic", its
optimiser as the "critic optimiser", and the replay buffer is an empty stand-in (PPO has none).  Minibatch
order comes from the trainer's own :class:`random.Random`, saved with it, so resumed runs are exact.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unitrl.errors import UnitrlError
from unitrl.rewards import ExecutionReward
from unitrl.rl.buffer import ReplayBuffer
from unitrl.rl.config import RunConfig
from unitrl.rl.critic import model_hidden_size
from unitrl.rl.logprobs import token_logprobs
from unitrl.rl.loop import TrainingRun
from unitrl.rl.rollout import Rollout
from unitrl.tasks import Task


@dataclass
class PPOConfig(RunConfig):
    """Settings of :class:`PPOTrainer` (see each field's comment)."""

    # --- the estimator ------------------------------------------------------------------------------------
    #: Discount per token.  1 (the usual choice for LM RL): the test verdict at the end counts fully for every
    #: token of the program; < 1 would favour short programs.
    gamma: float = 1.0
    #: GAE's lambda: 1 = Monte-Carlo returns (unbiased, noisy), 0 = one-step TD (biased by the value head).
    lam: float = 0.95
    #: Weight of the per-token KL penalty to the initial policy, added to the rewards (0 = off, no reference).
    kl_coef: float = 0.05
    #: Normalise advantages to mean 0, std 1 over the batch's completion tokens (standard PPO practice:
    #: makes the step size independent of the reward's scale).
    whiten_advantages: bool = True
    #: Clip the probability ratio to ``[1 - clip_range, 1 + clip_range]`` in the surrogate objective.
    clip_range: float = 0.2
    #: Clip the value prediction to within this of the old value in the value loss (0 = no value clipping).
    clip_range_value: float = 0.2

    # --- optimisation -------------------------------------------------------------------------------------
    #: Adam learning rate of the value head (a small MLP trained from scratch: much larger than the policy's).
    value_learning_rate: float = 1e-4
    #: Width of the value head's hidden layer.
    value_hidden: int = 256
    #: Passes over each batch of samples (PPO reuses a batch; clipping keeps the policy near the sampler).
    ppo_epochs: int = 2
    #: Minibatches per pass; each is one optimiser step of policy and value head (also the memory knob).
    num_minibatches: int = 2

    # --- output -------------------------------------------------------------------------------------------
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/ppo"

    def validate(self) -> None:
        """Reject out-of-range values with a one-line :class:`UnitrlError` naming the field."""
        super().validate()
        self.check_at_least(1, "ppo_epochs", "num_minibatches", "value_hidden")
        self.check_positive("value_learning_rate", "clip_range")
        self.check_non_negative("kl_coef", "clip_range_value")
        for name in ("gamma", "lam"):
            if not 0 <= getattr(self, name) <= 1:
                raise UnitrlError(f"config: {name} must be in [0, 1], got {getattr(self, name)}")


# --- the estimator and the losses, as pure functions --------------------------------------------------------


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is 1 (0 when the mask is empty)."""
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x`` normalised to mean 0, std 1 over the masked positions (zero elsewhere)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns of ``[batch, T]`` per-token rewards and values.

    ``mask`` is 1 on each row's (contiguous) completion tokens.  The value after a row's last token is 0:
    the episode ends there.  Returns ``(advantages, returns)``, both zero outside the mask, where
    ``advantages[t] = delta_t + gamma * lam * advantages[t + 1]``, ``delta_t = r_t + gamma * V_{t+1} - V_t``
    and ``returns = advantages + values``.
    """
    rewards, values, mask = rewards.float(), values.float(), mask.float()
    width = rewards.shape[-1]
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(rewards[..., 0])
    next_value = torch.zeros_like(rewards[..., 0])
    for t in reversed(range(width)):
        m = mask[..., t]
        delta = rewards[..., t] + gamma * next_value - values[..., t]
        next_adv = (delta + gamma * lam * next_adv) * m
        advantages[..., t] = next_adv
        next_value = values[..., t] * m
    return advantages, (advantages + values) * mask


def clipped_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate, a token mean over ``mask``; also ``clipfrac`` and ``approx_kl`` (k3).

    Where the ratio is outside ``[1 - clip, 1 + clip]`` in the direction the advantage pushes it, the
    clipped term is the maximum and is constant in ``logp``: that token contributes no gradient.
    """
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1 - clip_range, 1 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {
            "clipfrac": float(masked_mean((clipped > unclipped).float(), mask)),
            "approx_kl": float(masked_mean(ratio - 1 - log_ratio, mask)),
        }
    return loss, stats


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float
) -> torch.Tensor:
    """``0.5 * max((V - R)^2, (V_old + clip(V - V_old, +-clip) - R)^2)``, a token mean (no clipping at 0)."""
    loss = (values - returns) ** 2
    if clip > 0:
        clipped = old_values + (values - old_values).clamp(-clip, clip)
        loss = torch.maximum(loss, (clipped - returns) ** 2)
    return 0.5 * masked_mean(loss, mask)


class ValueHead(nn.Module):
    """Per-token value: LayerNorm -> Linear -> tanh -> Linear on ``[..., hidden_size]`` hidden states.

    The LayerNorm makes it insensitive to the scale of the LM's hidden states (different per model, drifting
    during training), as in :class:`~unitrl.rl.critic.Critic`.
    """

    def __init__(self, hidden_size: int, value_hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(hidden_size),
            nn.Linear(hidden_size, value_hidden),
            nn.Tanh(),
            nn.Linear(value_hidden, 1),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[..., hidden_size]`` -> ``[...]`` values."""
        return self.net(hidden.float()).squeeze(-1)


def token_forward(
    model: Any, rollouts: Sequence[Rollout], pad_id: int, *, with_hidden: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(token_logp, mask, hidden)`` of ``rollouts`` under ``model``, all aligned on ``[batch, len - 1]``.

    Position ``j`` holds the log-prob of token ``j + 1`` and (``with_hidden``) the *detached* last hidden
    state at position ``j`` -- the state the policy was in when it chose token ``j + 1``, which is what the
    value of that decision is a function of.  The mask is 1 exactly at completion tokens (as
    :func:`unitrl.rl.actor_critic.completion_logprobs`).
    """
    pairs = [(r.prompt_token_ids, r.completion_token_ids) for r in rollouts]
    token_logp, mask, hidden, _ = token_logprobs(model, pairs, pad_id, with_hidden=with_hidden)
    return token_logp, mask, hidden[:, :-1] if hidden is not None else None


class EmptyReplay(ReplayBuffer):
    """The empty replay buffer :mod:`unitrl.rl.checkpoint` saves for PPO (which replays nothing)."""

    def __init__(self) -> None:
        super().__init__(1, 1)


class PPOTrainer(TrainingRun):
    """Clipped PPO with a per-token value head, GAE and a per-token KL penalty; same interface as the others.

    ``model``/``tokenizer`` is the policy (trained in place: full fine-tuning, or only its adapters for a peft
    model), ``tasks`` the training tasks, ``reward`` an :class:`ExecutionReward` over them.  :meth:`step` for
    one update, :meth:`train` for the run; to resume, build it as the first time and :meth:`load_checkpoint`.
    """

    def __init__(
        self,
        config: PPOConfig,
        model: Any,
        tokenizer: Any,
        tasks: Sequence[Task],
        reward: ExecutionReward,
    ) -> None:
        self.bind(config, model, tokenizer, tasks, reward)

        self.init_policy_update(config.kl_coef)
        # The value head's initial weights depend only on the seed, without disturbing the global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.value_head = ValueHead(model_hidden_size(model), config.value_hidden).to(self.device)
        self.value_optimizer = torch.optim.Adam(self.value_head.parameters(), lr=config.value_learning_rate)
        self.rng = random.Random(config.seed)
        #: Completed steps (the next step's number).
        self.step_count = 0
        # What unitrl.rl.checkpoint saves: the value head is the "critic"; no replay (kept empty).
        self.critic = self.value_head
        self.critic_optimizer = self.value_optimizer
        self.buffer = EmptyReplay()

    # --- one step, top to bottom ----------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        """Sample, score, compute per-token rewards and GAE, run the PPO epochs; returns metrics.

        Metrics: ``reward_mean``, ``pass_rate``, ``loss`` (policy + value, last epoch's mean), ``pg_loss``,
        ``value_loss``, ``clipfrac``, ``approx_kl`` (both means over all minibatches), ``kl`` (KL to the
        reference per sample, from the sampling policy), ``value_mean``, ``return_mean``,
        ``advantage_mean`` (before whitening), ``explained_variance``, ``grad_norm`` (mean, before
        clipping), ``completion_tokens``, ``n_fresh``, ``step``.
        """
        batch = self.sample_batch()
        batch = [r for r in batch if r.completion_token_ids]  # an empty completion has no token to credit
        if not batch:
            raise UnitrlError("every sampled completion was empty; nothing to train on")
        old = self.score_batch(batch)
        metrics = self.update(batch, old)
        self.step_count += 1
        n = len(batch)
        return {
            "step": float(self.step_count),
            "reward_mean": sum(r.reward for r in batch) / n,
            "pass_rate": sum(bool(r.result and r.result.passed) for r in batch) / n,
            **metrics,
            "completion_tokens": sum(len(r.completion_token_ids) for r in batch) / n,
            "n_fresh": float(n),
        }

    @torch.no_grad()
    def score_batch(self, batch: Sequence[Rollout]) -> dict[str, torch.Tensor]:
        """The fixed quantities of a batch: old log-probs, values, rewards, advantages and returns.

        All ``[batch, T]``, zero outside the completion ``mask``.  Advantages are whitened when configured.
        """
        cfg = self.config
        self.model.eval()
        logp, mask, hidden = token_forward(self.model, batch, self.pad_id, with_hidden=True)
        assert hidden is not None
        values = self.value_head(hidden) * mask
        kl = torch.zeros_like(logp)
        if cfg.kl_coef > 0:
            kl = (logp - self.reference_logprobs(batch)) * mask  # k1: unbiased per token, what PPO-RLHF uses
        rewards = -cfg.kl_coef * kl
        last = mask.shape[1] - 1 - mask.flip(-1).argmax(-1)  # index of each row's last completion token
        rows = torch.arange(len(batch), device=mask.device)
        rewards[rows, last] += torch.tensor(
            [r.reward for r in batch], dtype=rewards.dtype, device=mask.device
        )
        advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
        raw_adv_mean = masked_mean(advantages, mask)
        if cfg.whiten_advantages:
            advantages = whiten(advantages, mask)
        return {
            "logp": logp * mask,
            "mask": mask,
            "values": values,
            "advantages": advantages,
            "returns": returns,
            "kl": kl.sum(-1),
            "raw_adv_mean": raw_adv_mean,
        }

    def update(self, batch: Sequence[Rollout], old: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """``ppo_epochs`` passes of ``num_minibatches`` shuffled minibatches over ``batch``."""
        cfg = self.config
        n = len(batch)
        size = -(-n // min(cfg.num_minibatches, n))
        sums: dict[str, float] = {"clipfrac": 0.0, "approx_kl": 0.0, "grad_norm": 0.0}
        last_epoch: dict[str, list[float]] = {"loss": [], "pg_loss": [], "value_loss": []}
        updates = 0
        self.model.eval()  # no dropout: see the module docstring
        for epoch in range(cfg.ppo_epochs):
            order = list(range(n))
            self.rng.shuffle(order)
            for start in range(0, n, size):
                idx = order[start : start + size]
                chunk = [batch[i] for i in idx]
                logp, mask, hidden = token_forward(self.model, chunk, self.pad_id, with_hidden=True)
                assert hidden is not None
                width = mask.shape[1]  # a minibatch pads to its own longest sequence
                sel = {key: old[key][idx, :width] for key in ("logp", "advantages", "values", "returns")}
                pg_loss, stats = clipped_policy_loss(
                    logp, sel["logp"], sel["advantages"], mask, cfg.clip_range
                )
                value_loss = clipped_value_loss(
                    self.value_head(hidden), sel["values"], sel["returns"], mask, cfg.clip_range_value
                )
                self.optimizer.zero_grad(set_to_none=True)
                self.value_optimizer.zero_grad(set_to_none=True)
                (pg_loss + value_loss).backward()  # the head's input is detached: the gradients are separate
                grad_norm = self.step_policy_optimizer(also=[self.value_optimizer])  # clips the policy's only
                updates += 1
                sums["clipfrac"] += stats["clipfrac"]
                sums["approx_kl"] += stats["approx_kl"]
                sums["grad_norm"] += float(grad_norm)
                if epoch == cfg.ppo_epochs - 1:
                    last_epoch["pg_loss"].append(float(pg_loss.detach()))
                    last_epoch["value_loss"].append(float(value_loss.detach()))
                    last_epoch["loss"].append(float((pg_loss + value_loss).detach()))
        self.optimizer.zero_grad(set_to_none=True)
        self.value_optimizer.zero_grad(set_to_none=True)
        mask = old["mask"]
        residual = old["returns"] - old["values"]
        ret_var = float(masked_mean((old["returns"] - masked_mean(old["returns"], mask)) ** 2, mask))
        res_var = float(masked_mean((residual - masked_mean(residual, mask)) ** 2, mask))
        return {
            **{key: sum(v) / len(v) for key, v in last_epoch.items()},
            **{key: v / updates for key, v in sums.items()},
            "kl": float(old["kl"].mean()),
            "value_mean": float(masked_mean(old["values"], mask)),
            "return_mean": float(masked_mean(old["returns"], mask)),
            "advantage_mean": float(old["raw_adv_mean"]),
            "explained_variance": 1.0 - res_var / ret_var if ret_var > 0 else 0.0,
        }
