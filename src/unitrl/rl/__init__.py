"""RL machinery shared by every training algorithm (no torch at import time).

- :mod:`unitrl.rl.normalize` -- canonical form of a program (AST modulo local names, formatting, docstrings).
- :mod:`unitrl.rl.buffer` -- bounded replay buffer of scored programs, deduplicated per prompt.

Rewards live in :mod:`unitrl.rewards`.
"""

from unitrl.rl.buffer import BufferEntry, ReplayBuffer
from unitrl.rl.normalize import dedup_key, normalize_program, whitespace_normalized

__all__ = ["BufferEntry", "ReplayBuffer", "dedup_key", "normalize_program", "whitespace_normalized"]
