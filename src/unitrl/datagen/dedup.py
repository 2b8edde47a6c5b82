"""Deduplication and benchmark decontamination of mined tasks.

Real code repeats itself (vendored copies, the same helper in many packages), and a model trained on a task
that *is* an MBPP or HumanEval problem inflates the very scores the training is judged by.  So a run drops:

* **duplicates** -- a function whose normalised form equals one mined earlier in the run.  The key is the
  entry function alone (helpers and imports around it, decorators and annotations do not count) with its
  own name replaced too, then
  :func:`unitrl.rl.normalize.dedup_key` (locals, formatting, comments and docstrings do not count): a renamed
  copy is a copy.  This check runs *before* the costly test generation, on the selected candidate;
* **contaminated** tasks -- the same key equals a benchmark solution's, or the word 5-gram Jaccard
  similarity of the mined prompt + reference with a benchmark prompt + solution reaches ``threshold``
  (0.5 by default).  The key check runs on the candidate, the n-gram check on the finished task (its prompt
  exists only then).

The benchmark fingerprints (MBPP's 974 and HumanEval's 164 tasks) are computed once per
:class:`TaskScreen`, with an inverted n-gram index so each check only looks at benchmarks sharing n-grams.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from unitrl.rl.normalize import dedup_key

if TYPE_CHECKING:
    from unitrl.datagen.selection import Candidate
    from unitrl.tasks import Task

#: The rejection reasons this module adds to a run's counts.
DUPLICATE = "duplicate"
CONTAMINATED = "contaminated"

_ENTRY = "_unitrl_entry_"
_WORD = re.compile(r"\w+")


class _RenameEntry(ast.NodeTransformer):
    def __init__(self, name: str) -> None:
        self.name = name

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if node.name == self.name:
            node.name = _ENTRY
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == self.name:
            node.id = _ENTRY
        return node


def function_key(program: str, entry_point: str) -> str:
    """A key equal for programs whose ``entry_point`` function is the same up to names (its own included),
    formatting, comments and docstrings.  Falls back to the whole program when the function is not found or
    the program does not parse."""
    with warnings.catch_warnings():  # benchmark code has invalid escapes ('\d'): not our concern here
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return _function_key(program, entry_point)


def _function_key(program: str, entry_point: str) -> str:
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return dedup_key(program)
    func = next(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point
        ),
        None,
    )
    module = ast.Module(body=[func], type_ignores=[]) if func is not None else tree
    if func is not None:
        func.decorator_list = []
    for node in ast.walk(module):  # annotations do not change what a function computes
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        elif isinstance(node, ast.arg):
            node.annotation = None
    try:
        renamed = _RenameEntry(entry_point).visit(module)
        return dedup_key(ast.unparse(ast.fix_missing_locations(renamed)))
    except (RecursionError, ValueError):
        return dedup_key(program)


def word_ngrams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    """The set of lower-cased word ``n``-grams of ``text`` (punctuation and layout ignored)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class BenchmarkIndex:
    """Fingerprints of benchmark tasks: solution keys and an inverted index of prompt+solution n-grams."""

    def __init__(self, tasks: Iterable[Task], n: int = 5) -> None:
        self.n = n
        self.ids: list[str] = []
        self.sizes: list[int] = []
        self.keys: dict[str, str] = {}
        self.postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for task in tasks:
            if not task.reference:
                continue
            index = len(self.ids)
            self.ids.append(task.task_id)
            self.keys.setdefault(function_key(task.reference, task.entry_point), task.task_id)
            grams = word_ngrams(task.prompt + "\n" + task.reference, n)
            self.sizes.append(len(grams))
            for gram in grams:
                self.postings[gram].append(index)

    @classmethod
    def load(cls, benchmarks: Sequence[str] = ("mbpp", "humaneval"), n: int = 5) -> BenchmarkIndex:
        from unitrl.benchmarks import load_benchmark

        return cls([t for name in benchmarks for t in load_benchmark(name, split=None)], n)

    def __len__(self) -> int:
        return len(self.ids)

    def key_match(self, key: str) -> str | None:
        """The benchmark task whose solution has this :func:`function_key`, if any."""
        return self.keys.get(key)

    def most_similar(self, text: str) -> tuple[str | None, float]:
        """``(task_id, Jaccard similarity)`` of the benchmark task whose n-grams overlap ``text``'s most."""
        grams = word_ngrams(text, self.n)
        if not grams:
            return None, 0.0
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self.postings.get(gram, ()))
        best, best_sim = None, 0.0
        for index, common in shared.items():
            sim = common / (len(grams) + self.sizes[index] - common)
            if sim > best_sim:
                best, best_sim = self.ids[index], sim
        return best, best_sim


class TaskScreen:
    """The dedup and decontamination state of one mining run (see the module docstring).

    :meth:`check_candidate` runs before a function is mined (and, when it passes, remembers its key so later
    copies are duplicates); :meth:`check_task` runs on each finished task.  Each returns a rejection reason
    or ``None``; :attr:`matches` records which benchmark task each contaminated function matched.
    """

    def __init__(
        self,
        *,
        dedup: bool = True,
        decontaminate: bool = True,
        threshold: float = 0.5,
        benchmarks: Sequence[str] = ("mbpp", "humaneval"),
        index: BenchmarkIndex | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.dedup = dedup
        self.decontaminate = decontaminate
        self.threshold = threshold
        self.index = index if index is not None or not decontaminate else BenchmarkIndex.load(benchmarks)
        self.seen: set[str] = set()
        self.matches: dict[str, str] = {}

    def remember(self, tasks: Iterable[Task]) -> None:
        """Count tasks mined before (a resumed run's output) as seen, so their copies are duplicates."""
        for task in tasks:
            self.seen.add(function_key(task.reference, task.entry_point))

    def check_candidate(self, candidate: Candidate) -> str | None:
        key = function_key(candidate.reference, candidate.name)
        if self.decontaminate and self.index is not None:
            match = self.index.key_match(key)
            if match is not None:
                self.matches[f"{candidate.path}:{candidate.qualname or candidate.name}"] = match
                return CONTAMINATED
        if self.dedup:
            if key in self.seen:
                return DUPLICATE
            self.seen.add(key)
        return None

    def check_task(self, task: Task) -> str | None:
        if not self.decontaminate or self.index is None:
            return None
        match, similarity = self.index.most_similar(task.prompt + "\n" + task.reference)
        if match is not None and similarity >= self.threshold:
            self.matches[task.task_id] = match
            return CONTAMINATED
        return None
