"""Batched sampling from a Hugging Face causal LM: many prompts, n samples each, stop strings, a progress bar.

Used by evaluation and meant to be reused by RL training, so it returns token ids and finish reasons as well
as text (:func:`sample_completions`); :func:`generate` is the text-only convenience.

Choices and why:

- Rows are sorted by prompt length and padded on the left, so a batch's prompts end at the same position and
  new tokens line up; sorting keeps padding (wasted compute) small.  The KV cache is on (``use_cache``).
- Sampling uses exactly the given ``temperature``/``top_p``: the model's shipped generation defaults
  (Qwen's instruct models set ``top_k=20``, ``repetition_penalty=1.05``) are switched off so that results
  are comparable across models and with published pass@k numbers.
- ``temperature == 0`` is greedy decoding; its ``n`` samples are identical, so one is generated and copied.
- Stop conditions are checked on the decoded text after every step, per row, so a row that finished stops
  costing compute (its slot is padded) while the others go on.  A string stop ends the text *before* it
  (the usual API convention); a regex stop ends it *after* its match (e.g. "a closed ```python block").
- With ``seed`` set, each batch reseeds torch with ``seed + batch_index``: the same call gives the same
  samples, independent of anything sampled before it in the process.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from unitrl.evaluation.prompts import Stop

FinishReason = Literal["stop", "eos", "length"]


@dataclass
class Completion:
    """One sampled continuation of a prompt."""

    #: Decoded text without special tokens, cut at the first stop condition.
    text: str
    #: Generated token ids up to and including the eos token or the token that completed a stop (padding
    #: removed): what an RL update scores.  The text may end a few characters before their decoding.
    token_ids: list[int]
    finish_reason: FinishReason

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


def find_stop(text: str, stops: Sequence[Stop]) -> int | None:
    """Where ``text`` must be cut for the earliest stop: before a string stop, after a regex match."""
    cut: int | None = None
    for stop in stops:
        if isinstance(stop, str):
            i = text.find(stop)
            end = i if i >= 0 else None
        else:
            m = stop.search(text)
            end = m.end() if m else None
        if end is not None and (cut is None or end < cut):
            cut = end
    return cut


def apply_stops(text: str, stops: Sequence[Stop]) -> str:
    """``text`` cut at its earliest stop (see :func:`find_stop`); unchanged when none occurs."""
    cut = find_stop(text, stops)
    return text if cut is None else text[:cut]


def _per_prompt_stops(stop: Any, n_prompts: int) -> list[tuple[Stop, ...]]:
    """Normalise ``stop``: ``None``, one list shared by all prompts, or one list per prompt."""
    if stop is None:
        return [()] * n_prompts
    if isinstance(stop, str | re.Pattern):
        return [(stop,)] * n_prompts
    items = list(stop)
    if items and all(isinstance(s, str | re.Pattern) for s in items):
        return [tuple(items)] * n_prompts
    if len(items) != n_prompts:
        raise ValueError(f"got {len(items)} per-prompt stop lists for {n_prompts} prompts")
    return [tuple(s) if s else () for s in items]


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        for i in value if isinstance(value, list | tuple) else [value]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


class _StopOnText:
    """Ends each row at its own stop conditions; wrapped as a ``StoppingCriteria`` by :func:`_criteria_class`
    so that importing this module does not import transformers.

    Re-decoding every row's whole output at every step costs more than a GPU decode step once outputs are a
    few hundred tokens long, so each row's text is kept up to date incrementally: every step decodes only a
    few tokens of context plus the new token (the streaming detokenisation of text-generation-inference,
    which gets spacing and multi-byte characters right), and string stops are searched only near the end.
    """

    def __init__(self, tokenizer: Any, prompt_len: int, row_stops: list[tuple[Stop, ...]], eos: list[int]):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.row_stops = row_stops
        self.eos = set(eos)
        rows = len(row_stops)
        self.ids: list[list[int]] = [[] for _ in range(rows)]
        self.text = [""] * rows
        self.prefix_offset = [0] * rows
        self.read_offset = [0] * rows
        self.finished = [not stops for stops in row_stops]  # rows without stops never need decoding
        self.longest = [max((len(x) for x in stops if isinstance(x, str)), default=0) for stops in row_stops]
        #: row -> number of generated tokens when its stop was found
        self.stopped_at: dict[int, int] = {}

    def _sync(self, input_ids: Any) -> None:
        """Append the new tokens of every row (normally one; all of them if steps were skipped)."""
        generated = input_ids.shape[1] - self.prompt_len
        if all(len(ids) == generated - 1 for ids in self.ids):
            for ids, token in zip(self.ids, input_ids[:, -1].tolist(), strict=True):
                ids.append(token)
        else:
            self.ids = [row[self.prompt_len :] for row in input_ids.tolist()]

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self._sync(input_ids)
        live = [r for r in range(len(self.ids)) if not self.finished[r]]
        for r in live:
            if self.ids[r] and self.ids[r][-1] in self.eos:
                self.finished[r] = True
        live = [r for r in live if not self.finished[r]]
        if live:
            batch = []
            for r in live:
                ids = self.ids[r]
                batch.append(ids[self.prefix_offset[r] : self.read_offset[r]])
                batch.append(ids[self.prefix_offset[r] :])
            decoded = self.tokenizer.batch_decode(batch, skip_special_tokens=True)
            for i, r in enumerate(live):
                before, after = decoded[2 * i], decoded[2 * i + 1]
                if len(after) <= len(before) or after.endswith("\ufffd"):
                    continue  # an incomplete multi-byte character: wait for the next token
                old_len = len(self.text[r])
                self.text[r] += after[len(before) :]
                self.prefix_offset[r], self.read_offset[r] = self.read_offset[r], len(self.ids[r])
                if self._hit(r, old_len):
                    self.stopped_at[r] = len(self.ids[r])
                    self.finished[r] = True
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        for r in self.stopped_at:
            done[r] = True
        return done.to(input_ids.device)

    def _hit(self, r: int, old_len: int) -> bool:
        text = self.text[r]
        tail = text[max(0, old_len - self.longest[r]) :]
        for stop in self.row_stops[r]:
            if (stop in tail) if isinstance(stop, str) else stop.search(text) is not None:
                return True
        return False


@functools.cache
def _criteria_class() -> type:
    from transformers import StoppingCriteria

    class StopOnText(_StopOnText, StoppingCriteria):
        pass

    return StopOnText


def make_progress(**kwargs: Any) -> Any:
    """The rich progress bar used by generation and evaluation, on stderr so that stdout stays the report."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    kwargs.setdefault("console", Console(stderr=True))
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        **kwargs,
    )


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Sample with dropout off even when called from a training loop; restore the mode afterwards."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


@contextlib.contextmanager
def _progress_task(progress: Any, total: int, description: str) -> Iterator[Callable[[int], None]]:
    """An ``advance(k)`` callback: ``progress`` is False, True (own rich bar), a rich ``Progress`` (a task is
    added to it) or already a callback."""
    if not progress:
        yield lambda k: None
        return
    from rich.progress import Progress

    if isinstance(progress, Progress):
        task = progress.add_task(description, total=total)
        yield lambda k: progress.advance(task, k)
        return
    if callable(progress):
        yield progress
        return
    with make_progress() as bar:
        task = bar.add_task(description, total=total)
        yield lambda k: bar.advance(task, k)


#: Padded prompt tokens per sequence slot that a batch may hold by default (see ``max_batch_tokens``): above
#: the median MBPP / HumanEval chat prompt (~160-180 tokens) and the longest HumanEval one (451), so only
#: unusually long prompts make a batch smaller.
PROMPT_TOKENS_PER_ROW = 512


def token_bounded_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[tuple[int, int]]:
    """``(start, stop)`` slices of rows sorted longest first: at most ``batch_size`` rows, and at most
    ``max_tokens`` once every row is padded to the batch's first (longest) row; always at least one row."""
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < len(lengths):
        fits = max(1, max_tokens // max(1, lengths[start]))
        stop = min(len(lengths), start + min(batch_size, fits))
        bounds.append((start, stop))
        start = stop
    return bounds


def sample_completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    batch_size: int = 16,
    stop: Sequence[Stop] | Sequence[Sequence[Stop]] | None = None,
    seed: int | None = None,
    add_special_tokens: bool = True,
    progress: Any = False,
    description: str = "generating",
    on_batch: Callable[[list[tuple[int, int, Completion]]], None] | None = None,
    max_batch_tokens: int | None = None,
) -> list[list[Completion]]:
    """``n`` completions for each prompt, as ``result[prompt_index][sample_index]``.

    ``on_batch``, when given, is called after each generation batch with its finished
    ``(prompt_index, sample_index, completion)`` triples, so a caller can start on them (run the programs)
    while the next batch generates.

    ``batch_size`` counts sequences (a prompt with ``n=4`` fills 4 slots).  ``stop`` is one list of stop
    conditions for all prompts or one list per prompt.  ``add_special_tokens=False`` for text that already
    has them (chat-templated prompts).  ``max_batch_tokens`` bounds the padded prompt tokens of one batch
    (default ``batch_size * PROMPT_TOKENS_PER_ROW``), so a batch of long prompts holds fewer of them:
    every row is padded to the longest, and one 3,768-token prompt (MBPP 493) in a batch of 128 made a
    prefill of 128 x 3,768 tokens that ran an H200 out of memory.  ``progress``: False, True (own rich
    bar), a ``rich.progress.Progress`` to add a task to, or a callback ``advance(k)`` called with the number
    of samples each batch finished.
    """
    import torch
    from transformers import StoppingCriteriaList

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_batch_tokens is None:
        max_batch_tokens = batch_size * PROMPT_TOKENS_PER_ROW
    greedy = temperature <= 0
    draws = 1 if greedy else n
    row_stops_all = _per_prompt_stops(stop, len(prompts))
    encoded = [
        tokenizer(p, add_special_tokens=add_special_tokens)["input_ids"] for p in prompts
    ]  # padded per batch
    eos = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos[0] if eos else 0)
    device = next(model.parameters()).device

    # longest prompts first: similar lengths share a batch (little padding), and running out of memory
    # happens in the first batch rather than an hour in
    rows = sorted(
        ((p, j) for p in range(len(prompts)) for j in range(draws)), key=lambda r: -len(encoded[r[0]])
    )
    results: list[list[Completion | None]] = [[None] * n for _ in prompts]

    sampling: dict[str, Any] = (
        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if greedy
        else {"do_sample": True, "temperature": float(temperature), "top_p": float(top_p), "top_k": 0}
    )

    with _eval_mode(model), _progress_task(progress, len(prompts) * n, description) as advance:
        for batch_index, (start, stop_at) in enumerate(
            token_bounded_batches([len(encoded[p]) for p, _ in rows], batch_size, max_batch_tokens)
        ):
            chunk = rows[start:stop_at]
            ids = [encoded[p] for p, _ in chunk]
            width = max(len(x) for x in ids)
            input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, x in enumerate(ids):
                if x:
                    input_ids[r, width - len(x) :] = torch.tensor(x, dtype=torch.long)
                    attention[r, width - len(x) :] = 1
            criteria = _criteria_class()(tokenizer, width, [row_stops_all[p] for p, _ in chunk], eos)
            if seed is not None:
                torch.manual_seed(seed + batch_index)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    max_new_tokens=max_new_tokens,
                    eos_token_id=eos or None,
                    pad_token_id=pad_id,
                    repetition_penalty=1.0,
                    use_cache=True,
                    stopping_criteria=StoppingCriteriaList([criteria]),
                    **sampling,
                )
            gen = out[:, width:].tolist()
            for r, (p, j) in enumerate(chunk):
                tokens = gen[r]
                reason: FinishReason = "length"
                if r in criteria.stopped_at:
                    tokens, reason = tokens[: criteria.stopped_at[r]], "stop"
                else:
                    first_eos = next((i for i, t in enumerate(tokens) if t in eos), None)
                    if first_eos is not None:
                        tokens, reason = tokens[: first_eos + 1], "eos"
                    else:
                        tokens = tokens[:max_new_tokens]
                text = tokenizer.decode(tokens, skip_special_tokens=True)
                if row_stops_all[p]:
                    cut = find_stop(text, row_stops_all[p])
                    if cut is not None:
                        text, reason = text[:cut], "stop"
                completion = Completion(text=text, token_ids=tokens, finish_reason=reason)
                if greedy:
                    results[p] = [
                        Completion(completion.text, list(completion.token_ids), completion.finish_reason)
                        for _ in range(n)
                    ]
                else:
                    results[p][j] = completion
            advance(len(chunk) * (n if greedy else 1))
            if on_batch is not None:
                pairs = [(p, i) for p, _ in chunk for i in range(n)] if greedy else chunk
                on_batch([(p, j, results[p][j]) for p, j in pairs])  # type: ignore[misc]
    return [[c for c in row if c is not None] for row in results]


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    batch_size: int = 16,
    stop: Sequence[Stop] | Sequence[Sequence[Stop]] | None = None,
    seed: int | None = None,
    add_special_tokens: bool = True,
    progress: Any = False,
) -> list[list[str]]:
    """Texts of :func:`sample_completions`: ``result[prompt_index][sample_index]``."""
    completions = sample_completions(
        model,
        tokenizer,
        prompts,
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        stop=stop,
        seed=seed,
        add_special_tokens=add_special_tokens,
        progress=progress,
    )
    return [[c.text for c in row] for row in completions]
