"""A bounded replay buffer of scored programs, deduplicated per prompt by normalised AST.

Why a buffer: on hard tasks most fresh samples fail, and the rare passing (or partially passing) program is
worth replaying for several updates; mixing replayed entries into fresh batches keeps that signal.  Why dedup:
a policy repeats itself (same solution, other names or spacing), and copies would dominate replay; entries of
one prompt are unique up to :func:`unitrl.rl.normalize.dedup_key`.

Policies (all deterministic, so a run resumed from :meth:`ReplayBuffer.state_dict` continues identically):

* A *prompt* is identified by its ``task_id``: the same task under another prompt template is the same
  program judged by the same tests, so its entries dedup together.
* **Per-prompt cap**: adding to a prompt that already holds ``per_prompt_cap`` entries evicts that prompt's
  oldest entry (newer samples reflect the current policy).
* **Capacity**: when the buffer holds more than ``capacity`` entries, the oldest entry of the prompt with the
  most entries is evicted (ties: the prompt whose oldest entry is oldest).  This keeps many prompts
  represented instead of letting a few easy prompts fill the buffer.
* An evicted program is forgotten: it can be added again later.
* **Sampling** (:meth:`ReplayBuffer.sample`) is uniform over entries, without replacement, driven only by the
  caller's seeded :class:`random.Random`.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from unitrl.rl.normalize import dedup_key

STATE_VERSION = 1


@dataclass
class BufferEntry:
    """One scored sample.  ``extra`` holds anything JSON-serialisable (outcome, tests passed, step, ...)."""

    task_id: str
    prompt: str
    completion: str
    program: str
    reward: float
    extra: dict[str, Any] = field(default_factory=dict)
    #: Dedup key (see :func:`dedup_key`); filled in by :meth:`ReplayBuffer.add`.
    key: str = ""
    #: Insertion number across the whole buffer: the age used by eviction.
    seq: int = -1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReplayBuffer:
    """Bounded, per-prompt deduplicated store of scored programs (see the module docstring for policies)."""

    def __init__(self, capacity: int = 10_000, per_prompt_cap: int = 64, *, dedup: bool = True) -> None:
        if capacity < 1 or per_prompt_cap < 1:
            raise ValueError(f"capacity ({capacity}) and per_prompt_cap ({per_prompt_cap}) must be >= 1")
        self.capacity = capacity
        self.per_prompt_cap = per_prompt_cap
        self.dedup = dedup
        #: task_id -> entries, oldest first; dict order = order in which prompts first appeared.
        self._groups: dict[str, list[BufferEntry]] = {}
        self._keys: dict[str, set[str]] = {}
        self._size = 0
        self._seq = 0
        self.added = 0
        self.dup_rejections = 0
        self.evictions = 0

    # --- adding and evicting ---------------------------------------------------------------------------

    def add(
        self,
        task_id: str,
        prompt: str,
        completion: str,
        program: str,
        reward: float,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Store one sample; ``False`` (and nothing stored) when the prompt already has an equivalent program.

        Raises ``ValueError`` for a non-finite reward or an ``extra`` that is not JSON-serialisable: both
        would otherwise only surface when a checkpoint is written, hours later.
        """
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")
        extra = dict(extra or {})
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"extra must be JSON-serialisable: {e}") from None
        key = dedup_key(program) if self.dedup else f"seq:{self._seq}"
        if key in self._keys.get(task_id, ()):
            self.dup_rejections += 1
            return False
        keys = self._keys.setdefault(task_id, set())
        group = self._groups.setdefault(task_id, [])
        if len(group) >= self.per_prompt_cap:
            self._evict(task_id)
            group = self._groups.setdefault(task_id, [])
            keys = self._keys.setdefault(task_id, set())
        entry = BufferEntry(task_id, prompt, completion, program, reward, extra, key=key, seq=self._seq)
        self._seq += 1
        group.append(entry)
        keys.add(key)
        self._size += 1
        self.added += 1
        while self._size > self.capacity:
            self._evict(self._eviction_victim())
        return True

    def add_entry(self, entry: BufferEntry) -> bool:
        """:meth:`add` from an existing entry (its ``key``/``seq`` are recomputed)."""
        return self.add(
            entry.task_id, entry.prompt, entry.completion, entry.program, entry.reward, entry.extra
        )

    def _eviction_victim(self) -> str:
        return max(self._groups, key=lambda t: (len(self._groups[t]), -self._groups[t][0].seq))

    def _evict(self, task_id: str) -> None:
        group = self._groups[task_id]
        old = group.pop(0)
        self._keys[task_id].discard(old.key)
        self._size -= 1
        self.evictions += 1
        if not group:
            del self._groups[task_id]
            del self._keys[task_id]

    # --- reading -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[BufferEntry]:
        """Every entry, prompts in order of first appearance, each prompt's entries oldest first."""
        for group in self._groups.values():
            yield from group

    def entries(self, task_id: str | None = None) -> list[BufferEntry]:
        """All entries, or one prompt's entries (oldest first)."""
        return list(self) if task_id is None else list(self._groups.get(task_id, []))

    def contains(self, task_id: str, program: str) -> bool:
        """Whether ``task_id`` already holds a program equivalent to ``program``."""
        return self.dedup and dedup_key(program) in self._keys.get(task_id, set())

    def sample(
        self,
        n: int,
        rng: random.Random,
        fresh: Sequence[BufferEntry] | None = None,
        mix: float = 0.5,
    ) -> list[BufferEntry]:
        """``n`` entries mixing ``fresh`` samples with replayed ones, shuffled.

        ``mix`` is the fraction of the result replayed from the buffer (``round(n * mix)``); the rest comes
        from ``fresh``.  When one side is short the other fills in; without ``fresh`` everything is replayed.
        Both sides are drawn without replacement, so fewer than ``n`` entries come back only when
        ``len(fresh) + len(self) < n``.  The buffer is not modified (add fresh samples with :meth:`add`).
        Deterministic given ``rng``'s state.
        """
        if n < 0 or not 0.0 <= mix <= 1.0:
            raise ValueError(f"need n >= 0 and 0 <= mix <= 1, got n={n}, mix={mix}")
        fresh = list(fresh or [])
        pool = list(self)
        n_replay = min(len(pool), round(n * mix) if fresh else n)
        n_fresh = min(len(fresh), n - n_replay)
        n_replay = min(len(pool), n - n_fresh)  # fill from the buffer when fresh samples are short
        chosen = rng.sample(fresh, n_fresh) + rng.sample(pool, n_replay)
        rng.shuffle(chosen)
        return chosen

    def stats(self) -> dict[str, Any]:
        """Counters for logging: size, bounds, prompts, adds, duplicate rejections, evictions, per-prompt sizes."""
        rewards = [e.reward for e in self]
        return {
            "size": self._size,
            "capacity": self.capacity,
            "per_prompt_cap": self.per_prompt_cap,
            "prompts": len(self._groups),
            "added": self.added,
            "dup_rejections": self.dup_rejections,
            "evictions": self.evictions,
            "reward_mean": sum(rewards) / len(rewards) if rewards else 0.0,
            "per_prompt": {t: len(g) for t, g in self._groups.items()},
        }

    # --- checkpoints ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as plain JSON-serialisable data."""
        return {
            "version": STATE_VERSION,
            "capacity": self.capacity,
            "per_prompt_cap": self.per_prompt_cap,
            "dedup": self.dedup,
            "seq": self._seq,
            "added": self.added,
            "dup_rejections": self.dup_rejections,
            "evictions": self.evictions,
            "groups": [[t, [e.to_dict() for e in g]] for t, g in self._groups.items()],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output.  The bounds given to the constructor stay in force: if the saved
        buffer is larger, entries are evicted by the usual policy until it fits."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"replay buffer state version {state.get('version')!r}; expected {STATE_VERSION}"
            )
        self._groups = {}
        self._keys = {}
        self._size = 0
        for task_id, entries in state["groups"]:
            group = [BufferEntry(**e) for e in entries]
            if group:
                self._groups[task_id] = group
                self._keys[task_id] = {e.key for e in group}
                self._size += len(group)
        self._seq = int(state["seq"])
        self.added = int(state["added"])
        self.dup_rejections = int(state["dup_rejections"])
        self.evictions = int(state["evictions"])
        for task_id in list(self._groups):
            while task_id in self._groups and len(self._groups[task_id]) > self.per_prompt_cap:
                self._evict(task_id)
        while self._size > self.capacity:
            self._evict(self._eviction_victim())

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ReplayBuffer:
        """A buffer with the saved bounds and contents."""
        buf = cls(state["capacity"], state["per_prompt_cap"], dedup=state.get("dedup", True))
        buf.load_state_dict(state)
        return buf
