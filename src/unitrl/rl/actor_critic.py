"""Actor-critic RL from unit-test rewards, written to be read top to bottom (CleanRL style).

One :meth:`ActorCriticTrainer.step`:

1. **Sample.**  Draw ``prompts_per_step`` tasks, sample ``k`` completions each from the current policy,
   extract programs and run them all against their tests in one executor batch (:func:`collect_rollouts`).
2. **Replay.**  Add previously seen programs from the :class:`~unitrl.rl.buffer.ReplayBuffer` so that they
   make up ``replay_mix`` of the batch.  They are treated as on-policy samples (no importance weights):
   replay re-weights good programs the policy once found, in the spirit of CodeRL and self-imitation
   learning, rather than pretending to be an unbiased off-policy estimator.
3. **Policy update (actor).**  One forward pass of the policy over prompt + completion tokens gives, per
   sample, the summed log-probability of its completion tokens and (detached) the pooled last hidden state
   the critic reads (over the prompt only by default: ``critic_input``).  ``advantage = reward -
   critic(features)`` (detached: a baseline),
   ``loss = -mean(advantage * sum log p(completion))``, plus ``kl_coef * KL(policy || reference)`` when
   ``kl_coef > 0``; gradients are accumulated over ``grad_accumulation`` micro-batches, clipped and applied.
4. **Critic update.**  One MSE step of the critic towards the observed rewards on the same batch and the
   same features, every step, in sync with the policy (skipped when ``critic_frozen``: the ablation where
   the critic is pretrained with :meth:`ActorCriticTrainer.pretrain_critic` and then kept fixed).
5. **Remember.**  Fresh rollouts go into the replay buffer (deduplicated per task).

Everything random is seeded from ``config.seed`` and the step number (sampling reseeds per step; task and
replay draws use the trainer's own :class:`random.Random`), so a run resumed from a checkpoint
(:mod:`unitrl.rl.checkpoint`) takes exactly the steps an uninterrupted run would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from unitrl.rewards import ExecutionReward
from unitrl.rl.buffer import ReplayBuffer
from unitrl.rl.config import ActorCriticConfig
from unitrl.rl.critic import Critic, critic_regression_step, mean_pool, model_hidden_size, policy_features
from unitrl.rl.logprobs import token_logprobs
from unitrl.rl.loop import PRETRAIN_SEED_OFFSET, STEP_SEED_STRIDE, TrainingRun
from unitrl.rl.rollout import Rollout
from unitrl.tasks import Task


def completion_logprobs(
    model: Any,
    rollouts: Sequence[Rollout],
    pad_id: int,
    *,
    with_features: bool = False,
    critic_input: str = "prompt",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs of each rollout's completion under ``model``.

    Returns ``(token_logp [batch, len-1], completion_mask [batch, len-1], features [batch, hidden] | None)``:
    position ``j`` holds the log-prob of token ``j + 1`` given the tokens before it; the mask is 1 exactly
    at the completion's tokens.  ``features`` (with ``with_features``) is the detached last hidden state
    mean-pooled over the prompt (``critic_input="prompt"``; a causal LM's prompt positions never see the
    completion) or over prompt + completion -- the critic's input, for free from the same forward pass.
    """
    if any(not r.prompt_token_ids for r in rollouts):
        empty = next(r.task_id for r in rollouts if not r.prompt_token_ids)
        raise ValueError(f"rollout for {empty!r} has an empty prompt: its first token has no log-prob")
    pairs = [(r.prompt_token_ids, r.completion_token_ids) for r in rollouts]
    token_logp, mask, hidden, attention = token_logprobs(model, pairs, pad_id, with_hidden=with_features)
    features = None
    if hidden is not None:
        pooled = attention
        if critic_input == "prompt":  # sequences are right-padded: the prompt is each row's first tokens
            pooled = torch.zeros_like(attention)
            for i, r in enumerate(rollouts):
                pooled[i, : len(r.prompt_token_ids)] = 1
        features = mean_pool(hidden, pooled)
    return token_logp, mask, features


def critic_sequences(rollouts: Sequence[Rollout], critic_input: str) -> list[list[int]]:
    """The token ids the critic reads for each rollout (see ``ActorCriticConfig.critic_input``)."""
    if critic_input == "prompt":
        return [list(r.prompt_token_ids) for r in rollouts]
    return [list(r.prompt_token_ids) + list(r.completion_token_ids) for r in rollouts]


class ActorCriticTrainer(TrainingRun):
    """REINFORCE with a learned critic baseline, a replay buffer and an optional KL penalty.

    ``model``/``tokenizer`` is the policy (trained in place, full fine-tuning), ``tasks`` the training tasks
    and ``reward`` an :class:`ExecutionReward` over those tasks.  Call :meth:`step` for one update or
    :meth:`train` for the whole run.  To resume, build the trainer exactly as the first time (same initial
    model, so the KL reference is the same) and call :meth:`load_checkpoint`.
    """

    def __init__(
        self,
        config: ActorCriticConfig,
        model: Any,
        tokenizer: Any,
        tasks: Sequence[Task],
        reward: ExecutionReward,
    ) -> None:
        self.bind(config, model, tokenizer, tasks, reward)

        # The critic's initial weights depend only on the seed, without disturbing the global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.critic = Critic(model_hidden_size(model), config.critic_hidden).to(self.device)
        self.init_policy_update(config.kl_coef)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_learning_rate)
        self.buffer = ReplayBuffer(config.buffer_capacity, config.buffer_per_prompt_cap)
        self.rng = random.Random(config.seed)
        #: Completed steps (the next step's number).
        self.step_count = 0

    # --- one step, top to bottom ----------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        """Sample, replay, update policy and critic, remember; returns this step's metrics.

        Metrics: ``reward_mean`` and ``pass_rate`` (fraction of samples passing every test) over the fresh
        samples; ``loss`` (policy loss incl. KL term), ``pg_loss``, ``kl`` (per sample, 0 when off),
        ``advantage_mean``, ``grad_norm`` (before clipping); ``critic_loss`` (MSE) and ``critic_error``
        (mean absolute error) of the critic's predictions *before* its update on this batch;
        ``buffer_size``, ``n_fresh``, ``n_replayed``, ``step`` (steps completed).
        """
        cfg = self.config

        # 0. (first step only, when configured) fit the critic to the initial policy's samples
        extra: dict[str, float] = {}
        if cfg.critic_pretrain_batches and self.step_count == 0:
            extra = self.pretrain_critic_on_policy()

        # 1. fresh rollouts from the current policy
        fresh = self.sample_batch()

        # 2. replayed rollouts from earlier steps (drawn before this step's samples are added); in a
        #    data-parallel run every process draws the same ones from its identical buffer and keeps its share
        replayed = self.dist.shard(self.replay(len(fresh) * self.dist.world_size))
        batch = fresh + replayed
        rewards = torch.tensor([r.reward for r in batch], dtype=torch.float32, device=self.device)

        # 3. actor: REINFORCE with the critic's prediction as baseline
        policy_metrics, features = self.update_policy(batch, rewards)

        # 4. critic: regress onto the observed rewards, in sync with the policy (unless frozen)
        critic_metrics = self.update_critic(features, rewards)

        # 5. remember fresh samples (every process's, so that every process keeps the same buffer)
        for args in self.dist.gather([r.to_buffer_args(step=self.step_count) for r in fresh]):
            self.buffer.add(**args)

        self.step_count += 1
        n = len(fresh)
        return {
            "step": float(self.step_count),
            "reward_mean": sum(r.reward for r in fresh) / n,
            "pass_rate": sum(bool(r.result and r.result.passed) for r in fresh) / n,
            **policy_metrics,
            **critic_metrics,
            "buffer_size": float(len(self.buffer)),
            "n_fresh": float(n),
            "n_replayed": float(len(replayed)),
            **extra,
        }

    # --- the pieces -----------------------------------------------------------------------------------------

    def replay(self, n_fresh: int) -> list[Rollout]:
        """Buffer samples making up ``replay_mix`` of a batch that also holds ``n_fresh`` fresh ones."""
        mix = self.config.replay_mix
        if mix <= 0 or not len(self.buffer):
            return []
        n = min(len(self.buffer), round(n_fresh * mix / (1 - mix)))
        return [Rollout.from_buffer_entry(e, self.tokenizer) for e in self.buffer.sample(n, self.rng)]

    def update_policy(
        self, batch: Sequence[Rollout], rewards: torch.Tensor
    ) -> tuple[dict[str, float], torch.Tensor]:
        """One optimiser step of the policy on ``batch``; returns metrics and the critic features it computed.

        The loss is averaged over the whole batch whatever ``grad_accumulation`` is: each micro-batch's sum is
        divided by the batch size, so the accumulated gradient equals the full-batch gradient.
        """
        cfg = self.config
        n = len(batch)
        size = -(-n // cfg.grad_accumulation)  # ceil: every micro-batch non-empty
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss_total, pg_total, kl_total, adv_total = 0.0, 0.0, 0.0, 0.0
        all_features = []
        for start in range(0, n, size):
            chunk = batch[start : start + size]
            chunk_rewards = rewards[start : start + size]
            token_logp, mask, features = completion_logprobs(
                self.model, chunk, self.pad_id, with_features=True, critic_input=cfg.critic_input
            )
            assert features is not None
            all_features.append(features)
            with torch.no_grad():
                advantages = chunk_rewards - self.critic(features)  # detached: a baseline, not a target
            seq_logp = (token_logp * mask).sum(-1)
            pg_loss = -(advantages * seq_logp).sum() / n
            loss = pg_loss
            if cfg.kl_coef > 0:
                ref_logp = self.reference_logprobs(chunk)
                # k3 estimator (Schulman 2020): unbiased, always >= 0, low variance; summed over tokens.
                delta = ref_logp - token_logp
                kl = ((delta.exp() - delta - 1) * mask).sum(-1)
                loss = loss + cfg.kl_coef * kl.sum() / n
                kl_total += float(kl.detach().sum())
            loss.backward()
            loss_total += float(loss.detach())
            pg_total += float(pg_loss.detach())
            adv_total += float(advantages.sum())
        grad_norm = self.step_policy_optimizer()
        self.model.eval()
        metrics = {
            "loss": loss_total,
            "pg_loss": pg_total,
            "kl": kl_total / n,  # per sample, summed over tokens; 0 when the penalty is off (not measured)
            "advantage_mean": adv_total / n,
            "grad_norm": float(grad_norm),
        }
        return metrics, torch.cat(all_features)

    def update_critic(self, features: torch.Tensor, rewards: torch.Tensor) -> dict[str, float]:
        """One regression step of the critic on this batch, or only its error when ``critic_frozen``."""
        if not self.config.critic_frozen:
            return critic_regression_step(self.critic, self.critic_optimizer, features, rewards)
        with torch.no_grad():
            predictions = self.critic(features)
        return {
            "critic_loss": float(torch.nn.functional.mse_loss(predictions, rewards)),
            "critic_error": float((predictions - rewards).abs().mean()),
        }

    def pretrain_critic_on_policy(self) -> dict[str, float]:
        """Sample ``critic_pretrain_batches`` batches of the initial policy and fit the critic to them.

        Inside step 1, so every checkpoint holds the fitted critic and a resumed run never refits it.  The
        samples do not update the policy and do not enter the replay buffer (they are not part of the
        ``steps`` budget the algorithms are compared at; the metrics say how many there were).
        """
        cfg = self.config
        samples: list[Rollout] = []
        for b in range(cfg.critic_pretrain_batches):
            samples += self.sample_batch(cfg.seed + STEP_SEED_STRIDE * (PRETRAIN_SEED_OFFSET + b))
        history = self.pretrain_critic(samples, epochs=cfg.critic_pretrain_epochs)
        return {
            "critic_pretrain_samples": float(len(samples)),
            "critic_pretrain_loss_first": history[0]["critic_loss"] if history else 0.0,
            "critic_pretrain_loss_last": history[-1]["critic_loss"] if history else 0.0,
        }

    def pretrain_critic(self, rollouts: Sequence[Rollout], epochs: int = 100) -> list[dict[str, float]]:
        """Fit the critic to ``rollouts`` (e.g. samples of the initial policy) with ``epochs`` full-batch steps.

        The "pretrain, then freeze" half of the ``critic_frozen`` ablation; also a warm start for the
        in-sync critic.  Features are computed once (the policy does not change here).
        """
        features = policy_features(
            self.model, critic_sequences(rollouts, self.config.critic_input), self.pad_id
        )
        rewards = torch.tensor([r.reward for r in rollouts], dtype=torch.float32, device=self.device)
        return [
            critic_regression_step(self.critic, self.critic_optimizer, features, rewards)
            for _ in range(epochs)
        ]
