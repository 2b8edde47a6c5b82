"""From settings to a ready trainer: parse a run's config (file + ``key=value``), then build its pieces.

``unitrl train`` and library users go through the same functions, so a run described by a config file
builds the same thing from Python and from the command line:

- :func:`resolve_settings` -- algorithm config + :class:`~unitrl.rl.lora.LoraSettings` from a config file's
  mapping, ``key=value`` overrides and explicit values (flags), validated before anything heavy loads;
- :func:`load_training_tasks` -- ``mbpp:train,extra.jsonl`` -> tasks (ids must be unique across specs);
- :func:`build_policy`, :func:`build_executor`, :func:`build_reward`, :func:`build_trainer`.

Nothing here imports torch at module level: settings are parsed and checked in milliseconds, and
config parsing lives in ``unitrl.rl.overrides``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitrl.errors import UnitrlError
from unitrl.rl.lora import LoraSettings
from unitrl.rl.overrides import config_from_mapping, split_override

if TYPE_CHECKING:
    from unitrl.execution import Executor
    from unitrl.rewards import ExecutionReward
    from unitrl.tasks import Task

#: ``--algo`` values.
ALGORITHMS = ("actor-critic", "grpo", "rloo", "ppo", "coderl")
#: Prefix of the LoRA keys in a run's settings (``lora_r=16``).
LORA_PREFIX = "lora_"


# --- a run's settings -------------------------------------------------------------------------------------


def config_class(algo: str) -> type:
    """The config dataclass of ``algo`` (imports torch for GRPO/RLOO, PPO, CodeRL: their trainer modules do)."""
    if algo == "actor-critic":
        from unitrl.rl.config import ActorCriticConfig

        return ActorCriticConfig
    if algo in ("grpo", "rloo"):
        from unitrl.rl.grpo import GRPOConfig, RLOOConfig

        return GRPOConfig if algo == "grpo" else RLOOConfig
    if algo == "ppo":
        from unitrl.rl.ppo import PPOConfig

        return PPOConfig
    if algo == "coderl":
        from unitrl.rl.coderl import CodeRLConfig

        return CodeRLConfig
    raise UnitrlError(f"unknown algorithm {algo!r}; choose one of: {', '.join(ALGORITHMS)}")


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config file's mapping: ``.json``, or ``.yaml``/``.yml`` when PyYAML is installed.

    Lists (``tasks: [mbpp:train, extra.jsonl]``, ``lora_target_modules: [q_proj, v_proj]``) are joined with
    commas, the form those keys take on the command line.
    """
    path = Path(path)
    if not path.is_file():
        raise UnitrlError(f"{path}: no such config file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UnitrlError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml); or use a .json file"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            where = getattr(e, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise UnitrlError(f"{path}: invalid YAML{line}") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UnitrlError(f"{path}: invalid JSON (line {e.lineno}: {e.msg})") from None
    else:
        raise UnitrlError(f"{path}: config files must end in .yaml, .yml or .json")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UnitrlError(
            f"{path}: a config file must hold a mapping of key: value, got {type(data).__name__}"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            raise UnitrlError(f"{path}: {key} must be a plain value, not a mapping (configs are flat)")
        out[str(key)] = value
    return out


def resolve_settings(
    algo: str,
    file_data: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    explicit: Mapping[str, Any] | None = None,
) -> tuple[Any, LoraSettings]:
    """The validated ``(config, lora)`` of a run: defaults < config file < ``key=value`` < ``explicit``.

    ``explicit`` holds values given as dedicated flags (``--model``, ``--steps``...); ``None`` values are
    skipped.  Keys starting with ``lora_`` go to :class:`LoraSettings`; an ``algo`` key in the file is
    ignored here (the caller decides the algorithm: see :func:`algo_from_file`).
    """
    merged: dict[str, Any] = {k: v for k, v in (file_data or {}).items() if k != "algo"}
    for item in overrides:
        key, raw = split_override(item)
        merged[key] = raw
    for key, value in (explicit or {}).items():
        if value is not None:
            merged[key] = value
    lora_data = {k: v for k, v in merged.items() if k.startswith(LORA_PREFIX)}
    main = {k: v for k, v in merged.items() if not k.startswith(LORA_PREFIX)}
    cls = config_class(algo)
    config = cls.from_dict({**cls().to_dict(), **main})
    lora = config_from_mapping(LoraSettings, lora_data, prefix=LORA_PREFIX)
    lora.validate()
    return config, lora


def algo_from_file(file_data: Mapping[str, Any] | None, flag: str | None) -> str:
    """``--algo`` wins, else the file's ``algo`` key, else ``actor-critic``; checked against the list."""
    algo = flag or str((file_data or {}).get("algo") or "actor-critic")
    if algo not in ALGORITHMS:
        raise UnitrlError(f"unknown algorithm {algo!r}; choose one of: {', '.join(ALGORITHMS)}")
    return algo


# --- tasks ------------------------------------------------------------------------------------------------


def parse_task_specs(spec: str, default_split: str | None) -> list[tuple[str, str | None]]:
    """``"mbpp:train,extra.jsonl"`` -> ``[("mbpp", "train"), ("extra.jsonl", None)]``.

    A named benchmark without ``:split`` gets ``default_split`` (the config's ``split``); a task file is used
    whole unless its spec names a split (``mined.jsonl:train`` keeps ``meta.split == "train"``).  An existing
    file path is never split at ``:``.
    """
    out: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, split = part, None
        if not os.path.exists(part) and ":" in part:
            name, _, split = part.rpartition(":")
            split = split or None
        lowered = name.lower()
        is_file = os.path.exists(name) or lowered.endswith((".jsonl", ".json", ".jsonl.gz")) or os.sep in name
        if split is None and not is_file:
            split = default_split
        out.append((name, split))
    if not out:
        raise UnitrlError("no training tasks given: pass --tasks mbpp:train or a task .jsonl file")
    return out


def load_training_tasks(spec: str, default_split: str | None = "train") -> list[Task]:
    """All tasks of a comma-separated spec list (see :func:`parse_task_specs`), in order."""
    from unitrl.benchmarks import load_benchmark

    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for name, split in parse_task_specs(spec, default_split):
        where = f"{name}:{split}" if split else name
        loaded = load_benchmark(name, split=split)
        if not loaded:
            raise UnitrlError(f"{where}: no tasks in this split")
        for task in loaded:
            if task.task_id in seen:
                raise UnitrlError(
                    f"task id {task.task_id!r} is in both {seen[task.task_id]} and {where}; task ids must be unique"
                )
            seen[task.task_id] = where
            tasks.append(task)
    return tasks


# --- heavy pieces -----------------------------------------------------------------------------------------


def build_policy(
    spec: str, lora: LoraSettings | None = None, *, device: str = "cpu", dtype: Any = None
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from ``load_model(spec)``, wrapped with LoRA adapters when ``lora.r > 0``."""
    from unitrl.models import load_model
    from unitrl.rl.lora import apply_lora

    model, tokenizer = load_model(spec, device=device, dtype=dtype)
    if lora is not None and lora.enabled:
        model = apply_lora(model, lora)
    return model, tokenizer


def build_executor(config: Any) -> Executor:
    """A sandboxed executor with the config's workers and timeout (use it as a context manager)."""
    from unitrl.execution import ExecutionConfig, Executor

    return Executor(
        ExecutionConfig(workers=config.executor_workers, timeout=config.executor_timeout, test_timeout=None)
    )


def build_reward(config: Any, tasks: Iterable[Task], executor: Executor) -> ExecutionReward:
    """The config's reward shape over ``tasks``, run by ``executor``."""
    from unitrl.rewards import ExecutionReward

    return ExecutionReward(executor, {t.task_id: t for t in tasks}, reward=config.reward)


def build_trainer(config: Any, model: Any, tokenizer: Any, tasks: list[Task], reward: ExecutionReward) -> Any:
    """The trainer matching ``config``'s class (actor-critic, PPO, CodeRL, or the GRPO/RLOO group trainer)."""
    from unitrl.rl.config import ActorCriticConfig

    if isinstance(config, ActorCriticConfig):
        from unitrl.rl.actor_critic import ActorCriticTrainer

        return ActorCriticTrainer(config, model, tokenizer, tasks, reward)
    from unitrl.rl.coderl import CodeRLConfig, CodeRLTrainer
    from unitrl.rl.ppo import PPOConfig, PPOTrainer

    if isinstance(config, PPOConfig):
        return PPOTrainer(config, model, tokenizer, tasks, reward)
    if isinstance(config, CodeRLConfig):
        return CodeRLTrainer(config, model, tokenizer, tasks, reward)
    from unitrl.rl.grpo import GroupTrainer

    return GroupTrainer(config, model, tokenizer, tasks, reward)
