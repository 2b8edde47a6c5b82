"""Rollouts: sample k completions per task, extract programs, score them all in one executor batch.

A :class:`Rollout` is everything a policy update needs about one sample -- the exact prompt and completion
token ids (what the log-probabilities are computed on), the text and program (for the replay buffer and
logs) and the verdict and scalar reward.  Token ids are kept rather than re-tokenised text because the text
is cut at a stop condition and decoding/encoding does not round-trip exactly: the update must score the
tokens the policy actually produced.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from unitrl.execution.types import SampleResult
from unitrl.rewards import ExecutionReward, identity_extract
from unitrl.rl.buffer import BufferEntry
from unitrl.tasks import Task


@dataclass
class Rollout:
    """One scored sample of the policy for one task."""

    task_id: str
    #: Prompt text exactly as tokenised (chat template applied for chat models).
    prompt: str
    prompt_token_ids: list[int]
    #: Generated token ids (up to and including eos or the token that completed a stop).
    completion_token_ids: list[int]
    completion: str
    #: The full program that was run (extracted from ``completion``).
    program: str
    reward: float
    #: The executor's verdict; ``None`` for rollouts rebuilt from the replay buffer or made by hand.
    result: SampleResult | None = None
    #: Free-form JSON-serialisable data (e.g. ``{"replayed": True}``, the step it was sampled at).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_buffer_args(self, step: int | None = None) -> dict[str, Any]:
        """Keyword arguments of :meth:`ReplayBuffer.add`; token ids go in ``extra`` so replay is exact."""
        extra: dict[str, Any] = {
            "prompt_token_ids": list(self.prompt_token_ids),
            "completion_token_ids": list(self.completion_token_ids),
        }
        if self.result is not None:
            extra["outcome"] = self.result.outcome
            extra["tests_passed"] = self.result.tests_passed
            extra["tests_total"] = self.result.tests_total
        if step is not None:
            extra["step"] = step
        return {
            "task_id": self.task_id,
            "prompt": self.prompt,
            "completion": self.completion,
            "program": self.program,
            "reward": self.reward,
            "extra": extra,
        }

    @classmethod
    def from_buffer_entry(cls, entry: BufferEntry, tokenizer: Any = None) -> Rollout:
        """Rebuild a rollout from a replay-buffer entry (token ids from ``extra``, else re-tokenised)."""
        prompt_ids = entry.extra.get("prompt_token_ids")
        completion_ids = entry.extra.get("completion_token_ids")
        if prompt_ids is None or completion_ids is None:
            if tokenizer is None:
                raise ValueError(
                    f"buffer entry for {entry.task_id!r} has no token ids and no tokenizer was given"
                )
            prompt_ids = tokenizer(entry.prompt, add_special_tokens=False)["input_ids"]
            completion_ids = tokenizer(entry.completion, add_special_tokens=False)["input_ids"]
        return cls(
            task_id=entry.task_id,
            prompt=entry.prompt,
            prompt_token_ids=list(prompt_ids),
            completion_token_ids=list(completion_ids),
            completion=entry.completion,
            program=entry.program,
            reward=entry.reward,
            result=None,
            extra={"replayed": True, "step": entry.extra.get("step")},
        )


@dataclass
class RolloutTimings:
    """Where a step's sampling time went: generation (tokens/s) and sandboxed execution (programs/s)."""

    generation_seconds: float = 0.0
    generated_tokens: int = 0
    #: Time the executor spent on the programs (overlapping generation, when rollouts overlap).
    execution_seconds: float = 0.0
    #: Time sampling waited for execution after the last generation batch: what overlapping did not hide.
    waiting_seconds: float = 0.0
    programs: int = 0

    def metrics(self) -> dict[str, float]:
        """``tokens_per_s``, ``exec_per_s`` (0 when nothing was measured) and ``exec_wait_s`` (seconds spent
        waiting for execution after generating), for the step's log row."""
        return {
            "tokens_per_s": self.generated_tokens / self.generation_seconds
            if self.generation_seconds
            else 0.0,
            "exec_per_s": self.programs / self.execution_seconds if self.execution_seconds else 0.0,
            "exec_wait_s": self.waiting_seconds,
        }


def collect_rollouts(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[Task],
    reward: ExecutionReward,
    *,
    k: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    batch_size: int = 16,
    seed: int | None = None,
    timings: RolloutTimings | None = None,
    overlap: bool = True,
) -> list[Rollout]:
    """``k`` scored rollouts per task, task-major (``tasks[0]``'s k samples first).

    Prompts come from :func:`~unitrl.evaluation.prompts.build_prompt` (chat or completion format, picked by
    the tokenizer), programs from ``Prompt.extract`` (code block, imports and helpers restored) and rewards
    from ``reward``, one call per generation batch.  With ``overlap`` each batch's programs run in the
    executor (its workers in parallel) while the next batch generates; without, all generation comes first.
    The rollouts are the same either way: sampling is seeded per generation batch and execution is
    deterministic, so only the waiting changes.

    When ``reward`` was built with its own ``extract`` function (as for TRL, which hands it raw completions),
    the raw completion text is passed and the reward's extraction wins, so a program is never extracted
    twice; with the default identity extraction the prompt-aware ``Prompt.extract`` result is passed.
    ``timings``, when given, accumulates generation and execution time and counts (the tokens/s and exec/s
    a training log reports, and how long sampling waited for execution after generating).
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from unitrl.evaluation.runner import sample_programs

    own_extract = reward.extract is identity_extract
    scored: dict[tuple[int, int], tuple[Any, float, str, SampleResult]] = {}
    execution_seconds = 0.0

    def score(items: list[tuple[int, int, Any]]) -> None:
        # one thread runs every batch in turn, so reward.last_* belong to this call when read
        nonlocal execution_seconds
        started = time.monotonic()
        texts = [s.program if own_extract else s.completion.text for _, _, s in items]
        rewards = reward(completions=texts, task_id=[s.task.task_id for _, _, s in items])
        for (t, j, sample), r, program, result in zip(
            items, rewards, reward.last_programs, reward.last_results, strict=True
        ):
            scored[(t, j)] = (sample, float(r), program, result)
        execution_seconds += time.monotonic() - started

    started = time.monotonic()
    pending: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="unitrl-score") as pool:
        batches: list[list[tuple[int, int, Any]]] = []
        on_batch = (lambda items: pending.append(pool.submit(score, items))) if overlap else batches.append
        sample_programs(
            model,
            tokenizer,
            tasks,
            n=k,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            seed=seed,
            on_batch=on_batch,
        )
        generated = time.monotonic()
        for items in batches:  # not overlapped: execute now, batch by batch
            score(items)
        for future in pending:
            future.result()  # re-raises an execution error here
    if not scored:
        return []
    if timings is not None:
        timings.generation_seconds += generated - started
        timings.generated_tokens += sum(len(sample.completion.token_ids) for sample, *_ in scored.values())
        timings.execution_seconds += execution_seconds
        timings.waiting_seconds += time.monotonic() - generated
        timings.programs += len(scored)
    first = next(iter(scored.values()))[0]
    add_special = not first.prompt.has_special_tokens
    prompt_ids: dict[int, list[int]] = {}
    out = []
    for t, j in sorted(scored):  # task-major, as sampled
        sample, r, program, result = scored[(t, j)]
        if t not in prompt_ids:
            prompt_ids[t] = tokenizer(sample.prompt.text, add_special_tokens=add_special)["input_ids"]
        out.append(
            Rollout(
                task_id=sample.task.task_id,
                prompt=sample.prompt.text,
                prompt_token_ids=list(prompt_ids[t]),
                completion_token_ids=list(sample.completion.token_ids),
                completion=sample.completion.text,
                program=program,
                reward=r,
                result=result,
            )
        )
    return out
