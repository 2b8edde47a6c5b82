"""The critic: a small MLP predicting a sample's reward from the policy's own (detached) representation.

Input: the policy's last hidden states (after its final norm, ``hidden_states[-1]`` of a Hugging Face
causal LM called with ``output_hidden_states=True``), mean-pooled over the prompt's tokens (the default) or
over prompt + completion (``critic_input``).  Output: one scalar, regressed onto the observed reward with
MSE.  Its prediction is the baseline of the actor-critic update (advantage = reward - prediction).  Read
from the prompt alone it estimates the task's expected reward under the policy, V(prompt), which lowers the
variance of REINFORCE without biasing it; a critic that also reads the sampled program predicts that
program's own reward, a baseline that depends on the action: biased, and the better it fits, the closer
every advantage comes to 0.

Why the features are detached (computed under ``torch.no_grad()`` or ``.detach()``-ed from the policy's
forward pass):

- the critic's regression loss must not move the policy: a shared trunk trained on value regression changes
  what the policy writes for reasons unrelated to the reward, and the two losses need separately tuned
  weights (PPO's ``vf_coef``) to not fight;
- the policy gradient must not flow into the baseline either: the baseline is only unbiased when it is a
  constant w.r.t. the policy parameters being differentiated;
- it is cheap: no backward pass through the language model for the critic, so the critic costs a few
  matrix products per step.

The features still change as the policy learns (the policy is the feature extractor), which is why the
critic is retrained every step, in sync with the policy (``critic_frozen`` is the ablation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


class Critic(nn.Module):
    """Two-layer MLP: ``hidden_size`` pooled features -> ``critic_hidden`` (tanh) -> one predicted reward.

    A LayerNorm on the input makes the critic insensitive to the scale of the language model's hidden
    states, which differs between models (and drifts during training).
    """

    def __init__(self, hidden_size: int, critic_hidden: int = 256) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.critic_hidden = critic_hidden
        self.net = nn.Sequential(
            nn.LayerNorm(hidden_size),
            nn.Linear(hidden_size, critic_hidden),
            nn.Tanh(),
            nn.Linear(critic_hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[batch, hidden_size]`` features -> ``[batch]`` predicted rewards."""
        return self.net(features.float()).squeeze(-1)


def pad_sequences(
    sequences: Sequence[Sequence[int]], pad_id: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists to ``(input_ids, attention_mask)``.

    Right padding keeps every sequence at positions ``0..len-1`` without passing position ids, and
    causal attention means padding after a sequence cannot change its logits.
    """
    width = max((len(s) for s in sequences), default=0)
    input_ids = torch.full((len(sequences), max(width, 1)), pad_id, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for i, seq in enumerate(sequences):
        if seq:
            input_ids[i, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
            mask[i, : len(seq)] = 1
    return input_ids.to(device), mask.to(device)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden [batch, seq, dim]`` over positions where ``mask`` is 1 (float32 result)."""
    weights = mask.to(torch.float32).unsqueeze(-1)
    return (hidden.float() * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def model_hidden_size(model: Any) -> int:
    """The width of the policy's hidden states (what every critic and value head reads)."""
    size = getattr(getattr(model, "config", None), "hidden_size", None)
    return int(size) if size else int(model.get_input_embeddings().embedding_dim)


@torch.no_grad()
def policy_features(
    model: Any, sequences: Sequence[Sequence[int]], pad_id: int, batch_size: int = 8
) -> torch.Tensor:
    """Critic input for token sequences (prompt, or prompt + completion ids): the policy's pooled last hidden
    state.

    Computed under ``torch.no_grad()`` (see the module docstring for why).  The trainer gets the same
    numbers without a second forward pass by detaching the hidden states of the forward pass it makes for
    the log-probs anyway: same weights (before the update), same tokens, so the same features -- at no cost.

    ``batch_size`` sequences at a time, and the vocabulary head only on the last position
    (``logits_to_keep=1``): the features need no logits, and full ones for 128 sequences of ~900 tokens are
    70 GB in float32 (the critic pretraining of the GPU comparison ran out of memory on exactly that).
    """
    device = next(model.parameters()).device
    parts = []
    for start in range(0, len(sequences), batch_size):
        input_ids, mask = pad_sequences(sequences[start : start + batch_size], pad_id, device)
        out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True, logits_to_keep=1)
        parts.append(mean_pool(out.hidden_states[-1], mask))
    if not parts:
        return torch.zeros(0, model_hidden_size(model), device=device)
    return torch.cat(parts)


def critic_regression_step(
    critic: Critic, optimizer: torch.optim.Optimizer, features: torch.Tensor, rewards: torch.Tensor
) -> dict[str, float]:
    """One MSE step of ``critic`` towards ``rewards``; returns the loss and mean absolute error *before* it.

    In a data-parallel run the gradient is averaged over processes first (each holds its share of the batch).
    """
    from unitrl.rl.distributed import current

    critic.train()
    predictions = critic(features.detach())
    loss = torch.nn.functional.mse_loss(predictions, rewards.float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    current().average_gradients(critic.parameters())
    optimizer.step()
    return {
        "critic_loss": float(loss.detach()),
        "critic_error": float((predictions.detach() - rewards).abs().mean()),
    }
