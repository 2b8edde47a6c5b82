"""Per-token log-probabilities of sampled completions under a policy, in bounded memory.

Every trainer needs ``log p(token)`` at each completion token (and some the hidden states there).  The
obvious way -- full logits ``[batch, len, vocab]``, ``log_softmax``, ``gather`` -- costs
``batch x len x vocab x 4`` bytes several times over for autograd: 16 samples of 450 tokens with Qwen's
152k-token vocabulary are 4.4 GB per copy, and an RL step on a 24 GB machine was killed for it.  So:

1. one forward pass of the policy for the final hidden states (``logits_to_keep=1``: the model's own head
   computes a single position);
2. keep only the completion positions (prompt tokens need no log-prob);
3. apply the output head to them in chunks, each under activation checkpointing when gradients are
   needed, so that at most one chunk's logits exist at a time, in the forward and in the backward pass.

The result is the same numbers as the obvious way (``tests/test_rl_logprobs.py`` checks it), for the memory
of the hidden states plus one chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from unitrl.rl.critic import pad_sequences

#: Completion tokens whose logits are computed at once (152k-vocabulary float32 logits: ~0.6 GB).
LOGIT_CHUNK = 1024


def _chunk_logp(hidden: torch.Tensor, targets: torch.Tensor, head: Any) -> torch.Tensor:
    logits = head(hidden).float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def token_logprobs(
    model: Any,
    sequences: Sequence[tuple[Sequence[int], Sequence[int]]],
    pad_id: int,
    *,
    with_hidden: bool = False,
    chunk: int = LOGIT_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Log-probs of each ``(prompt_ids, completion_ids)`` pair's completion tokens under ``model``.

    Returns ``(token_logp, mask, hidden, attention)``: ``token_logp`` and ``mask`` are ``[batch, len - 1]``
    -- position ``j`` holds the log-prob of token ``j + 1`` (0 outside completions) and the mask is 1 exactly
    at completion tokens; ``hidden`` (with ``with_hidden``) is the *detached* final hidden state
    ``[batch, len, dim]`` and ``attention`` the ``[batch, len]`` padding mask.  Sequences are right-padded,
    so every token keeps the position it had when it was generated.
    """
    if any(not prompt for prompt, _ in sequences):
        raise ValueError("a rollout has an empty prompt: its first token has no log-prob")
    device = next(model.parameters()).device
    input_ids, attention = pad_sequences([list(p) + list(c) for p, c in sequences], pad_id, device)
    mask = torch.zeros(input_ids.shape[0], input_ids.shape[1] - 1, device=device)
    for i, (prompt, completion) in enumerate(sequences):
        mask[i, len(prompt) - 1 : len(prompt) - 1 + len(completion)] = 1.0
    out = model(input_ids=input_ids, attention_mask=attention, output_hidden_states=True, logits_to_keep=1)
    final = out.hidden_states[-1]  # the final (normalised) hidden states, what the head reads
    selected = mask.bool()
    states = final[:, :-1][selected]
    targets = input_ids[:, 1:][selected]
    head = model.get_output_embeddings()
    grad = torch.is_grad_enabled() and states.requires_grad
    parts = []
    for start in range(0, states.shape[0], chunk):
        h, t = states[start : start + chunk], targets[start : start + chunk]
        parts.append(
            checkpoint(_chunk_logp, h, t, head, use_reentrant=False) if grad else _chunk_logp(h, t, head)
        )
    values = torch.cat(parts) if parts else states.new_zeros(0, dtype=torch.float32)
    token_logp = torch.zeros(mask.shape, dtype=torch.float32, device=device).masked_scatter(selected, values)
    hidden = final.detach() if with_hidden else None
    return token_logp, mask, hidden, attention
