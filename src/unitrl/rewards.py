"""Rewards from unit-test execution: one interface shared by every RL algorithm (and by TRL).

Two layers, so the reward arithmetic can be tested without running anything:

* **Reward shapes** -- pure functions ``shape(result: SampleResult, **params) -> float`` that turn one
  execution verdict into a number: :func:`pass_all`, :func:`pass_rate`, :func:`coderl` and the default
  :func:`sparse_plus_partial`.  :data:`REWARDS` names them; :func:`get_reward` binds parameters.
* **Reward functions** -- :class:`ExecutionReward`, a callable with the signature TRL's ``reward_funcs`` use
  (``GRPOTrainer``/``RLOOTrainer`` call ``f(prompts=..., completions=..., **dataset_columns)`` and expect one
  float per completion).  It extracts a program from each completion, runs the whole batch through one
  :class:`~unitrl.execution.Executor` call (the workers stay warm between steps) and applies a shape.  The
  same object serves our own trainers, so a reward is defined once.

Nothing here imports torch or a model: rewards are cheap to import in the sandbox-facing parts of a run.
"""

from __future__ import annotations

import functools
import inspect
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from unitrl.errors import UnitrlError
from unitrl.execution.types import SampleResult
from unitrl.tasks import Task

if TYPE_CHECKING:
    from unitrl.execution import Executor

#: A reward shape: one execution verdict -> one scalar reward.
RewardShape = Callable[[SampleResult], float]
#: Turns a model completion into the full program to run (e.g. ``unitrl.evaluation.extract.extract_program``).
ExtractFn = Callable[[str, Task], str]


# --- reward shapes -----------------------------------------------------------------------------------------


def pass_all(result: SampleResult) -> float:
    """1.0 when every test passed, else 0.0: the unbiased pass@1 signal (sparse, no partial credit)."""
    return 1.0 if result.passed else 0.0


def pass_rate(result: SampleResult) -> float:
    """Fraction of the task's tests passed (0.0 for a task without tests).

    Tests that passed before a timeout or crash still count: the executor reports them as passed.
    """
    return result.pass_rate


#: CodeRL's (Le et al., 2022) outcome rewards.  CodeRL distinguishes compile errors (-1), runtime errors
#: (-0.6), failed tests (-0.3) and a pass (+1).  Our executor also reports ``timeout``, ``memory`` and
#: ``killed``: all three mean the program crashed or was stopped while running, which is what CodeRL's
#: runtime-error class covers (its own harness counts a timeout as a runtime error), so they get -0.6 too.
CODERL_REWARDS: dict[str, float] = {
    "pass": 1.0,
    "fail": -0.3,
    "runtime_error": -0.6,
    "timeout": -0.6,
    "memory": -0.6,
    "killed": -0.6,
    "syntax_error": -1.0,
}


def coderl(result: SampleResult) -> float:
    """CodeRL's outcome reward (see :data:`CODERL_REWARDS`): worse outcomes are penalised more."""
    try:
        return CODERL_REWARDS[result.outcome]
    except KeyError:
        raise ValueError(
            f"unknown outcome {result.outcome!r}; expected one of {sorted(CODERL_REWARDS)}"
        ) from None


def sparse_plus_partial(
    result: SampleResult, *, sparse_weight: float = 1.0, partial_weight: float = 0.5
) -> float:
    """``sparse_weight * pass_all + partial_weight * pass_rate`` -- the default reward.

    Why both parts: the all-pass term is what pass@k measures, but alone it gives no gradient on hard tasks
    where no sample passes everything; the partial-credit term ranks a program passing some tests above one
    passing none, and the all-pass bonus keeps a full pass clearly best (with the defaults: 0 for none,
    0.5 * fraction for a partial pass, 1.5 for a full pass).
    """
    return sparse_weight * pass_all(result) + partial_weight * pass_rate(result)


#: Every reward shape by name.  Each takes a :class:`SampleResult` and optional keyword parameters.
REWARDS: dict[str, Callable[..., float]] = {
    "pass_all": pass_all,
    "pass_rate": pass_rate,
    "coderl": coderl,
    "sparse_plus_partial": sparse_plus_partial,
}

DEFAULT_REWARD = "sparse_plus_partial"


def _params(fn: Callable[..., float]) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]


def get_reward(name: str, **params: float) -> RewardShape:
    """The reward shape called ``name`` with ``params`` bound (``get_reward("sparse_plus_partial",
    partial_weight=1.0)``).  Unknown names or parameters are a one-line :class:`UnitrlError`."""
    if name not in REWARDS:
        raise UnitrlError(f"unknown reward {name!r}; choose one of: {', '.join(REWARDS)}")
    fn = REWARDS[name]
    allowed = _params(fn)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UnitrlError(
            f"reward {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(allowed) or '(none)'}"
        )
    if not params:
        return fn
    shape = functools.partial(fn, **params)
    functools.update_wrapper(shape, fn)
    return shape


# --- the reward function -----------------------------------------------------------------------------------


def identity_extract(completion: str, task: Task) -> str:
    """Default extraction: the completion already is the full program."""
    return completion


def completion_text(completion: Any) -> str:
    """The text of a completion in either TRL format.

    TRL passes plain strings for standard datasets and a list of chat messages (``[{"role": "assistant",
    "content": ...}]``) for conversational ones; the program is in the last message's content.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    raise TypeError(
        f"a completion must be a string or a list of chat messages, got {type(completion).__name__}"
    )


class ExecutionReward:
    """Reward completions by running their programs against their task's unit tests.

    ``tasks`` maps ``task_id`` to :class:`Task`; the training data must have a ``task_id`` column (TRL passes
    dataset columns as keyword arguments).  ``extract(completion, task)`` builds the program to run (default:
    the completion itself; for raw model output use ``unitrl.evaluation.extract.extract_program`` with the
    task's entry point and prompt).  ``reward`` is a shape or a name from :data:`REWARDS`.
    ``execution_overrides`` replace executor config fields for these runs (e.g. ``timeout=3``): a shorter
    timeout than evaluation is common in training, where a stuck program only costs throughput.

    After each call :attr:`last_results` and :attr:`last_programs` hold that batch's verdicts and programs
    (for logging and for filling a replay buffer) and :meth:`last_stats` summarises them.
    """

    def __init__(
        self,
        executor: Executor,
        tasks: Mapping[str, Task],
        extract: ExtractFn = identity_extract,
        reward: str | RewardShape = DEFAULT_REWARD,
        *,
        name: str | None = None,
        **execution_overrides: Any,
    ) -> None:
        self.executor = executor
        self.tasks = tasks
        self.extract = extract
        self.reward: RewardShape = get_reward(reward) if isinstance(reward, str) else reward
        reward_name = reward if isinstance(reward, str) else getattr(reward, "__name__", "custom")
        #: TRL logs each reward function under its ``__name__``.
        self.__name__ = name or f"unit_tests_{reward_name}"
        self.execution_overrides = execution_overrides
        self.last_results: list[SampleResult] = []
        self.last_programs: list[str] = []
        self.last_rewards: list[float] = []

    def programs(self, completions: Sequence[Any], task_id: Sequence[str]) -> list[str]:
        """The program each completion stands for (extraction only, nothing is run)."""
        if len(completions) != len(task_id):
            raise ValueError(f"{len(completions)} completions but {len(task_id)} task ids")
        missing = sorted({t for t in task_id if t not in self.tasks})
        if missing:
            shown = ", ".join(repr(t) for t in missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise UnitrlError(
                f"unknown task_id {shown} ({len(missing)} missing); the reward only knows the "
                f"{len(self.tasks)} tasks it was built with -- build it from the same task file as the data"
            )
        return [
            self.extract(completion_text(c), self.tasks[t]) for c, t in zip(completions, task_id, strict=True)
        ]

    def results(self, completions: Sequence[Any], task_id: Sequence[str]) -> list[SampleResult]:
        """Execute every completion's program against its task's tests, as one executor batch."""
        programs = self.programs(completions, task_id)
        samples = [
            self.tasks[t].sample(p, key=i) for i, (p, t) in enumerate(zip(programs, task_id, strict=True))
        ]
        results = self.executor.run(samples, **self.execution_overrides) if samples else []
        self.last_programs = programs
        self.last_results = results
        return results

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        task_id: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """One reward per completion (TRL ``reward_funcs`` signature; other columns in ``kwargs`` are ignored).

        ``prompts`` is accepted for that signature but unused: the task, not the prompt text, decides what is
        run.  Keyword defaults only exist so a missing ``task_id`` column gets a clear error.
        """
        if completions is None:
            raise TypeError("ExecutionReward needs completions=")
        if task_id is None:
            raise UnitrlError(
                "the reward needs a 'task_id' column next to the prompts (one task id per completion)"
            )
        results = self.results(completions, task_id)
        self.last_rewards = [float(self.reward(r)) for r in results]
        return list(self.last_rewards)

    def last_stats(self) -> dict[str, Any]:
        """Summary of the last batch for logging: mean reward, pass fraction, outcome counts."""
        n = len(self.last_results)
        return {
            "n": n,
            "reward_mean": sum(self.last_rewards) / n if n else 0.0,
            "pass_frac": sum(r.passed for r in self.last_results) / n if n else 0.0,
            "pass_rate_mean": sum(r.pass_rate for r in self.last_results) / n if n else 0.0,
            "outcomes": dict(Counter(r.outcome for r in self.last_results)),
        }
