"""RL machinery shared by every training algorithm (no torch at import time).

- :mod:`unitrl.rl.normalize` -- canonical form of a program (AST modulo local names, formatting, docstrings).
- :mod:`unitrl.rl.buffer` -- bounded replay buffer of scored programs, deduplicated per prompt.
- :mod:`unitrl.rl.config` -- ``ActorCriticConfig``: the trainer's settings, ``key=value`` overrides.
- :mod:`unitrl.rl.rollout` -- ``Rollout`` and ``collect_rollouts``: sample, extract, score in one batch.
- :mod:`unitrl.rl.critic` -- the critic MLP on the policy's pooled (detached) hidden states.
- :mod:`unitrl.rl.actor_critic` -- ``ActorCriticTrainer``: REINFORCE with a critic baseline and replay.
- :mod:`unitrl.rl.checkpoint` -- atomic save/load of a whole run (exact resume).
- :mod:`unitrl.rl.grpo` -- ``GRPOConfig``/``RLOOConfig`` and ``GroupTrainer``: critic-free group baselines.
- :mod:`unitrl.rl.ppo` -- ``PPOConfig`` and ``PPOTrainer``: clipped PPO, per-token value head, GAE.
- :mod:`unitrl.rl.coderl` -- ``CodeRLConfig`` and ``CodeRLTrainer``: frozen outcome-classifier critic, token-weighted PG.
- :mod:`unitrl.rl.lora` -- ``LoraSettings``, ``apply_lora``, ``save_policy``/``merge_and_save`` (peft, optional).
- :mod:`unitrl.rl.build` -- settings (config file + ``key=value``) to model, tasks, executor, reward, trainer.
- :mod:`unitrl.rl.logging` -- ``RunLogger``: metrics to JSONL and TensorBoard.

The torch-based names (``ActorCriticTrainer``, ``Critic``, the checkpoint functions, the GRPO family) and the
new modules' names load on first use.

Rewards live in :mod:`unitrl.rewards`.
"""

from unitrl.rl.buffer import BufferEntry, ReplayBuffer
from unitrl.rl.config import ActorCriticConfig
from unitrl.rl.normalize import dedup_key, normalize_program, whitespace_normalized
from unitrl.rl.rollout import Rollout, collect_rollouts

__all__ = [
    "ActorCriticConfig",
    "ActorCriticTrainer",
    "BufferEntry",
    "CodeRLConfig",
    "CodeRLTrainer",
    "Critic",
    "GRPOConfig",
    "GRPOTrainer",
    "GroupTrainer",
    "LoraSettings",
    "PPOConfig",
    "PPOTrainer",
    "RLOOConfig",
    "RLOOTrainer",
    "ReplayBuffer",
    "Rollout",
    "apply_lora",
    "collect_rollouts",
    "dedup_key",
    "group_advantages",
    "latest_checkpoint",
    "load_checkpoint",
    "merge_and_save",
    "normalize_program",
    "save_checkpoint",
    "save_policy",
    "whitespace_normalized",
]

_LAZY = {
    "ActorCriticTrainer": "unitrl.rl.actor_critic",
    "Critic": "unitrl.rl.critic",
    "latest_checkpoint": "unitrl.rl.checkpoint",
    "load_checkpoint": "unitrl.rl.checkpoint",
    "save_checkpoint": "unitrl.rl.checkpoint",
    "GRPOConfig": "unitrl.rl.grpo",
    "RLOOConfig": "unitrl.rl.grpo",
    "GroupTrainer": "unitrl.rl.grpo",
    "GRPOTrainer": "unitrl.rl.grpo",
    "RLOOTrainer": "unitrl.rl.grpo",
    "group_advantages": "unitrl.rl.grpo",
    "PPOConfig": "unitrl.rl.ppo",
    "PPOTrainer": "unitrl.rl.ppo",
    "CodeRLConfig": "unitrl.rl.coderl",
    "CodeRLTrainer": "unitrl.rl.coderl",
    "LoraSettings": "unitrl.rl.lora",
    "apply_lora": "unitrl.rl.lora",
    "merge_and_save": "unitrl.rl.lora",
    "save_policy": "unitrl.rl.lora",
}


def __getattr__(name: str):  # lazy: importing unitrl.rl must not import torch
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unitrl.rl' has no attribute {name!r}")
