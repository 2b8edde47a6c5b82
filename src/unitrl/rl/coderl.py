"""CodeRL-style training (Le et al., 2022): a frozen outcome critic weights a token-level policy gradient,
mixed with cross-entropy on the tasks' reference solutions.  Written to be read top to bottom.

**The critic is a classifier of test outcomes, trained first, then frozen.**  Four classes, from
:attr:`SampleResult.outcome` (:data:`OUTCOME_CLASSES`): compile error (``syntax_error``), runtime error
(``runtime_error``, ``timeout``, ``memory``, ``killed`` -- what CodeRL's runtime-error class covers, as in
:data:`unitrl.rewards.CODERL_REWARDS`), failed tests (``fail``) and passed (``pass``).  Before the first
policy step, :meth:`CodeRLTrainer.pretrain_critic` samples ``critic_pretrain_batches`` batches from the
initial policy, runs them, and fits the classifier for ``critic_epochs`` full-batch steps; afterwards its
parameters never change (``requires_grad`` off).

- *Per token*: the critic is a small MLP on each completion token's hidden state, trained with cross-entropy
  of *every* completion prefix against the sample's final outcome.  Its softmax at token ``t`` is then "how
  likely does a program that starts like this end with each outcome" -- the per-token signal CodeRL uses.
- *Frozen features*: a frozen critic must read frozen features, or its predictions drift as the policy
  learns.  The hidden states come from the *initial* policy: a frozen copy for full fine-tuning, or the same
  LoRA model with its adapters off (free).  Detached: the critic never moves the language model.

**The policy loss** (CodeRL eq. 5-6): for sample ``i`` with reward ``r_i`` (the config's ``reward``; CodeRL
uses ``coderl``: -1 / -0.6 / -0.3 / +1),
``L_rl = -(1/n) sum_i (r_i - b_i) sum_t q_it log p(w_it)``, where ``q_it`` is the critic's probability of
sample ``i``'s *observed* outcome at token ``t``: tokens the critic thinks decided the outcome get most of the
credit (or blame).  The baseline ``b_i`` is the leave-one-out mean reward of the other ``k - 1`` samples of
the same prompt (RLOO); CodeRL uses the reward of a greedy sample, which costs another generation per prompt
and is no better a baseline.  ``L = L_rl + mix_ce * L_ce``, ``L_ce`` the mean per-token negative
log-likelihood of each drawn task's reference solution (tasks without one, or whose reference cannot be
written as a completion of the prompt, are skipped): CodeRL keeps the supervised loss so that RL on a small
number of noisy rewards does not drift away from writing code.

Checkpoints reuse :mod:`unitrl.rl.checkpoint` unchanged (the classifier is the "critic"; the replay buffer is
an empty stand-in).  The critic is pretrained inside step 1, so every checkpoint holds the trained critic and
a resumed run never pretrains again.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unitrl.errors import UnitrlError
from unitrl.rewards import ExecutionReward
from unitrl.rl.config import RunConfig
from unitrl.rl.critic import model_hidden_size
from unitrl.rl.loop import PRETRAIN_SEED_OFFSET, STEP_SEED_STRIDE, TrainingRun
from unitrl.rl.lora import is_peft_model
from unitrl.rl.ppo import EmptyReplay, masked_mean, token_forward
from unitrl.rl.rollout import Rollout
from unitrl.tasks import Task

#: Class index of each executor outcome: 0 compile error, 1 runtime error, 2 failed tests, 3 passed.
OUTCOME_CLASSES: dict[str, int] = {
    "syntax_error": 0,
    "runtime_error": 1,
    "timeout": 1,
    "memory": 1,
    "killed": 1,
    "fail": 2,
    "pass": 3,
}
#: Names of the classes, by index.
CLASS_NAMES = ("compile_error", "runtime_error", "failed_tests", "passed")


@dataclass
class CodeRLConfig(RunConfig):
    """Settings of :class:`CodeRLTrainer` (see each field's comment)."""

    # --- the critic (trained first, then frozen) ----------------------------------------------------------
    #: Batches of ``prompts_per_step * k`` samples of the initial policy the critic is trained on.
    critic_pretrain_batches: int = 4
    #: Full-batch Adam steps of the critic on those samples.
    critic_epochs: int = 100
    #: Adam learning rate of the critic (a small MLP trained from scratch).
    critic_learning_rate: float = 1e-3
    #: Width of the critic MLP's hidden layer.
    critic_hidden: int = 256

    # --- the policy loss ----------------------------------------------------------------------------------
    #: Weight of the cross-entropy on the tasks' reference solutions (0 = pure RL).
    mix_ce: float = 1.0
    #: Micro-batches per step: the batch (and the reference solutions) are split into this many
    #: forward/backward passes whose gradients sum to the full-batch one (same update, less memory).
    grad_accumulation: int = 1

    # --- reward and execution -----------------------------------------------------------------------------
    #: Reward shape, one of :data:`unitrl.rewards.REWARDS` (CodeRL's own: ``coderl``).
    reward: str = "coderl"

    # --- output -------------------------------------------------------------------------------------------
    #: Run directory: config, metrics and checkpoints go here.
    out: str = "runs/coderl"

    def validate(self) -> None:
        """Reject out-of-range values with a one-line :class:`UnitrlError` naming the field."""
        super().validate()
        if self.k < 2:
            raise UnitrlError(f"config: k must be >= 2 (the baseline needs other samples), got {self.k}")
        self.check_at_least(
            1, "critic_pretrain_batches", "critic_epochs", "critic_hidden", "grad_accumulation"
        )
        self.check_positive("critic_learning_rate")
        self.check_non_negative("mix_ce")


class OutcomeCritic(nn.Module):
    """Per-token outcome classifier: LayerNorm -> Linear -> tanh -> Linear(4) on ``[..., hidden_size]``."""

    def __init__(self, hidden_size: int, critic_hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(hidden_size),
            nn.Linear(hidden_size, critic_hidden),
            nn.Tanh(),
            nn.Linear(critic_hidden, len(CLASS_NAMES)),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[..., hidden_size]`` -> ``[..., 4]`` logits."""
        return self.net(hidden.float())


def outcome_labels(batch: Sequence[Rollout]) -> torch.Tensor:
    """Class index of each rollout's executor outcome (rollouts without a result cannot be labelled)."""
    labels = []
    for r in batch:
        if r.result is None:
            raise ValueError(f"rollout for {r.task_id!r} has no executor result: its outcome is unknown")
        labels.append(OUTCOME_CLASSES[r.result.outcome])
    return torch.tensor(labels, dtype=torch.long)


def critic_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every completion token's ``[batch, T, 4]`` logits against its row's label."""
    targets = labels.to(logits.device).unsqueeze(1).expand(logits.shape[:2])
    ce = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    return masked_mean(ce.view(targets.shape), mask)


def loo_baseline(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """Mean reward of the other ``k - 1`` samples of each sample's prompt (task-major, ``k`` per prompt)."""
    groups = rewards.view(-1, k)
    return ((groups.sum(1, keepdim=True) - groups) / (k - 1)).reshape(-1)


class CodeRLTrainer(TrainingRun):
    """CodeRL: frozen outcome critic -> token-weighted policy gradient, plus reference cross-entropy.

    Same interface as the other trainers (:meth:`step`, :meth:`train`, checkpoints).  ``reward`` is an
    :class:`ExecutionReward` over ``tasks``; tasks' ``reference`` solutions feed the CE term.
    """

    summed_metrics = TrainingRun.summed_metrics | {f"critic_pretrain_{c}" for c in CLASS_NAMES}

    def __init__(
        self,
        config: CodeRLConfig,
        model: Any,
        tokenizer: Any,
        tasks: Sequence[Task],
        reward: ExecutionReward,
    ) -> None:
        self.bind(config, model, tokenizer, tasks, reward)

        # The critic's features come from the initial policy (see the module docstring).
        self.features_from_base = is_peft_model(model)
        self.feature_model: Any = None
        if not self.features_from_base:
            self.feature_model = copy.deepcopy(model).eval().requires_grad_(False)

        self.init_policy_update()  # no KL term
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.critic = OutcomeCritic(model_hidden_size(model), config.critic_hidden).to(self.device)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_learning_rate)
        self.rng = random.Random(config.seed)
        #: Completed steps (the next step's number).
        self.step_count = 0
        self.buffer = EmptyReplay()  # what unitrl.rl.checkpoint saves: no replay here
        self.critic_trained = False

    # --- the critic -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def features(self, batch: Sequence[Rollout]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(hidden [batch, T, dim], mask [batch, T])`` of the initial policy, aligned as ``token_forward``."""
        if self.features_from_base:
            with self.model.disable_adapter():
                _, mask, hidden = token_forward(self.model, batch, self.pad_id, with_hidden=True)
        else:
            _, mask, hidden = token_forward(self.feature_model, batch, self.pad_id, with_hidden=True)
        assert hidden is not None
        return hidden, mask

    def fit_critic(self, batch: Sequence[Rollout], epochs: int | None = None) -> list[float]:
        """``epochs`` full-batch steps of the classifier on ``batch``'s outcomes; the loss before each step."""
        hidden, mask = self.features(batch)
        labels = outcome_labels(batch)
        losses = []
        self.critic.train()
        for _ in range(self.config.critic_epochs if epochs is None else epochs):
            loss = critic_loss(self.critic(hidden), labels, mask)
            self.critic_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.dist.average_gradients(self.critic.parameters())
            self.critic_optimizer.step()
            losses.append(float(loss.detach()))
        self.critic.eval()
        return losses

    def freeze_critic(self) -> None:
        """From now on the critic is a fixed function (its gradient is never even computed)."""
        self.critic.requires_grad_(False)
        self.critic.eval()
        self.critic_trained = True

    def pretrain_critic(self) -> dict[str, float]:
        """Sample ``critic_pretrain_batches`` batches of the initial policy, fit the critic, freeze it."""
        cfg = self.config
        samples: list[Rollout] = []
        for b in range(cfg.critic_pretrain_batches):
            samples += self.sample_batch(cfg.seed + STEP_SEED_STRIDE * (PRETRAIN_SEED_OFFSET + b))
        losses = self.fit_critic(samples)
        self.freeze_critic()
        counts = outcome_labels(samples).bincount(minlength=len(CLASS_NAMES))
        return {
            "critic_pretrain_samples": float(len(samples)),
            "critic_pretrain_loss_first": losses[0],
            "critic_pretrain_loss_last": losses[-1],
            **{
                f"critic_pretrain_{name}": float(c)
                for name, c in zip(CLASS_NAMES, counts.tolist(), strict=True)
            },
        }

    # --- one step, top to bottom ----------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        """(Step 1 only: train and freeze the critic.)  Sample, weight tokens by the critic, one update.

        Metrics: ``reward_mean``, ``pass_rate``, ``loss``, ``pg_loss``, ``ce_loss`` (0 without references),
        ``critic_loss`` and ``critic_accuracy`` of the frozen critic on this batch (sequence prediction =
        the last token's), ``token_weight_mean`` (mean ``q``), ``advantage_mean``, ``grad_norm``, ``kl``
        (always 0: no KL term; kept so every trainer logs the same core keys), ``completion_tokens``,
        ``n_fresh``, ``step``; step 1 adds ``critic_pretrain_*``.
        """
        cfg = self.config
        extra: dict[str, float] = {}
        if not self.critic_trained and self.step_count == 0:
            extra = self.pretrain_critic()
        elif not self.critic_trained:
            self.freeze_critic()  # resumed: the checkpoint holds the trained critic
        batch = self.sample_batch()
        rewards = torch.tensor([r.reward for r in batch], dtype=torch.float32, device=self.device)
        advantages = rewards - loo_baseline(rewards, cfg.k)

        # token weights: the frozen critic's probability of each sample's observed outcome
        hidden, mask = self.features(batch)
        labels = outcome_labels(batch).to(self.device)
        with torch.no_grad():
            logits = self.critic(hidden)
            probs = logits.softmax(-1)
            weights = probs.gather(-1, labels.view(-1, 1, 1).expand(*probs.shape[:2], 1)).squeeze(-1) * mask
            frozen_loss = float(critic_loss(logits, labels, mask))
            last = mask.shape[1] - 1 - mask.flip(-1).argmax(-1)
            rows = torch.arange(len(batch), device=self.device)
            accuracy = float((logits[rows, last].argmax(-1) == labels).float().mean())

        metrics = self.update_policy(batch, advantages, weights, self.reference_batch(batch))
        self.step_count += 1
        n = len(batch)
        return {
            "step": float(self.step_count),
            "reward_mean": float(rewards.mean()),
            "pass_rate": sum(bool(r.result and r.result.passed) for r in batch) / n,
            **metrics,
            "kl": 0.0,
            "critic_loss": frozen_loss,
            "critic_accuracy": accuracy,
            "token_weight_mean": float(masked_mean(weights, mask)),
            "advantage_mean": float(advantages.mean()),
            "completion_tokens": sum(len(r.completion_token_ids) for r in batch) / n,
            "n_fresh": float(n),
            **extra,
        }

    def reference_batch(self, batch: Sequence[Rollout]) -> list[Rollout]:
        """One rollout per distinct task of ``batch`` whose completion is the task's reference solution.

        Chat prompts end where the model writes a fenced code block, so the target is the reference in one;
        a completion prompt with no prefix is continued by the whole program; a code prompt (the output
        continues a signature) only when the reference starts with that prompt.  Otherwise skipped.
        """
        by_id = {t.task_id: t for t in self.tasks}
        seen: set[str] = set()
        out: list[Rollout] = []
        for r in batch:
            task = by_id.get(r.task_id)
            if task is None or r.task_id in seen or not task.reference.strip():
                continue
            seen.add(r.task_id)
            target = reference_completion(task, self.tokenizer)
            if target is None:
                continue
            ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
            if ids:
                out.append(Rollout(r.task_id, r.prompt, list(r.prompt_token_ids), list(ids), target, "", 0.0))
        return out

    def update_policy(
        self,
        batch: Sequence[Rollout],
        advantages: torch.Tensor,
        weights: torch.Tensor,
        references: Sequence[Rollout] = (),
    ) -> dict[str, float]:
        """One optimiser step on ``L_rl + mix_ce * L_ce`` (see the module docstring)."""
        cfg = self.config
        n = len(batch)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        # micro-batches (grad_accumulation) sum to the full-batch gradient: each term is divided by the
        # full batch's sample count (policy term) or token count (reference cross-entropy)
        size = -(-n // cfg.grad_accumulation)
        pg_total = 0.0
        for start in range(0, n, size):
            chunk = batch[start : start + size]
            logp, mask, _ = token_forward(self.model, chunk, self.pad_id)
            w = weights[start : start + size, : mask.shape[1]].to(logp.device)
            weighted = (w * logp * mask).sum(-1)
            pg_loss = -(advantages[start : start + size].to(logp.device) * weighted).sum() / n
            pg_loss.backward()
            pg_total += float(pg_loss.detach())
        ce_total = 0.0
        if cfg.mix_ce > 0 and references:
            tokens = sum(len(r.completion_token_ids) for r in references)
            rsize = -(-len(references) // cfg.grad_accumulation)
            for start in range(0, len(references), rsize):
                ref_logp, ref_mask, _ = token_forward(
                    self.model, references[start : start + rsize], self.pad_id
                )
                ce_loss = -(ref_logp * ref_mask).sum() / max(tokens, 1)
                (cfg.mix_ce * ce_loss).backward()
                ce_total += float(ce_loss.detach())
        loss = torch.tensor(pg_total + cfg.mix_ce * ce_total)
        pg_loss = torch.tensor(pg_total)
        ce_loss = torch.tensor(ce_total)
        grad_norm = self.step_policy_optimizer()
        self.model.eval()
        return {
            "loss": float(loss.detach()),
            "pg_loss": float(pg_loss.detach()),
            "ce_loss": float(ce_loss.detach()),
            "grad_norm": float(grad_norm),
        }


def reference_completion(task: Task, tokenizer: Any) -> str | None:
    """The text the policy would write for ``task``'s prompt if it wrote the reference (see ``reference_batch``)."""
    from unitrl.evaluation.prompts import build_prompt

    prompt = build_prompt(task, tokenizer)
    reference = task.reference.strip("\n") + "\n"
    if prompt.format == "chat":
        return f"```python\n{reference}```"
    if not prompt.prefix:
        return reference
    if reference.startswith(prompt.prefix):
        return reference[len(prompt.prefix) :] or None
    return None
