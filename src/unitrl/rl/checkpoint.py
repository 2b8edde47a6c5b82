"""Checkpoints of an actor-critic run: everything needed for the next step to be the one an uninterrupted
run would have taken.

A checkpoint is a directory::

    policy.pt     policy state_dict            critic.pt      critic state_dict
    optim.pt      both optimisers' states      rng.pt         python/torch(/cuda) RNG states
    buffer.json   ReplayBuffer.state_dict()    trainer.json   step counter, trainer RNG, config

It is written into a temporary sibling directory and renamed into place, so a run killed while saving
leaves either the previous checkpoint or the complete new one, never half of one.  (A rename is atomic on
one file system; an existing checkpoint at the same path is moved aside first and deleted after.)

The policy is saved as a plain ``state_dict`` rather than ``save_pretrained`` because resuming needs the
exact tensors the optimiser state refers to; exporting a trained model for ``unitrl eval`` is a separate,
later step.  The KL reference model is not saved: it is the initial model, which the resuming run loads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unitrl.errors import UnitrlError
from unitrl.io import atomic_directory
from unitrl.rl.lora import is_peft_model

if TYPE_CHECKING:
    from unitrl.rl.actor_critic import ActorCriticTrainer

CHECKPOINT_VERSION = 1
#: Settings whose default is not what the code did before they were added: a checkpoint without them was
#: made by that older behaviour.
BEFORE_THE_SETTING: dict[str, Any] = {"critic_input": "prompt+completion"}
_FILES = ("policy.pt", "critic.pt", "optim.pt", "rng.pt", "buffer.json", "trainer.json")


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _jsonable_random_state(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _policy_state(model: Any) -> dict[str, Any]:
    """The policy weights that training can change: for a LoRA model only its adapters (the frozen base
    weights are rebuilt from the starting model on resume), which turns a 2.4 GB checkpoint into ~20 MB."""
    state = model.state_dict()
    if not is_peft_model(model):
        return state
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in state.items() if k in trainable}


def _load_policy_state(model: Any, state: dict[str, Any]) -> None:
    if not is_peft_model(model):
        model.load_state_dict(state)
        return
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise UnitrlError(f"checkpoint holds weights this LoRA model lacks: {result.unexpected_keys[:3]}")
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    missing = sorted(trainable - set(state))
    if missing:
        raise UnitrlError(
            f"checkpoint lacks adapter weights (e.g. {missing[0]}); was it saved with other LoRA settings?"
        )


def save_checkpoint(trainer: ActorCriticTrainer, path: str | os.PathLike[str]) -> Path:
    """Write ``trainer``'s full state to the directory ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        torch.save(_policy_state(trainer.model), tmp / "policy.pt")
        torch.save(trainer.critic.state_dict(), tmp / "critic.pt")
        torch.save(
            {"policy": trainer.optimizer.state_dict(), "critic": trainer.critic_optimizer.state_dict()},
            tmp / "optim.pt",
        )
        torch.save(_rng_state(), tmp / "rng.pt")
        (tmp / "buffer.json").write_text(json.dumps(trainer.buffer.state_dict()), encoding="utf-8")
        meta = {
            "version": CHECKPOINT_VERSION,
            "step": trainer.step_count,
            "trainer_rng": _jsonable_random_state(trainer.rng.getstate()),
            "config": trainer.config.to_dict(),
        }
        (tmp / "trainer.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def load_checkpoint(trainer: ActorCriticTrainer, path: str | os.PathLike[str]) -> None:
    """Restore a :func:`save_checkpoint` directory into ``trainer`` (built as for the original run).

    Config differences other than ``steps``/``out``/``checkpoint_every``/``executor_workers``/
    ``overlap_execution`` are reported as an error: resuming with another learning rate or batch shape would
    silently make a different run.  A setting the checkpoint does not know (added to unitrl later) counts as
    its default, or as :data:`BEFORE_THE_SETTING` says the older code behaved.
    """
    path = Path(path)
    missing = [f for f in _FILES if not (path / f).is_file()]
    if missing:
        raise UnitrlError(f"{path}: not a complete checkpoint (missing {', '.join(missing)})")
    meta = json.loads((path / "trainer.json").read_text(encoding="utf-8"))
    if meta.get("version") != CHECKPOINT_VERSION:
        raise UnitrlError(
            f"{path}: checkpoint version {meta.get('version')!r}, expected {CHECKPOINT_VERSION}"
        )
    # settings that change how long a run takes or where it writes, never what it computes
    mutable = {"steps", "out", "checkpoint_every", "executor_workers", "overlap_execution"}
    saved, current = meta["config"], trainer.config.to_dict()
    # a setting added after the checkpoint was written: that run behaved as its default does, or as the
    # code did before the setting existed where that differs from the default
    defaults = {f.name: f.default for f in dataclasses.fields(trainer.config)} | BEFORE_THE_SETTING
    changed = sorted(
        k
        for k in set(saved) | set(current)
        if k not in mutable and saved.get(k, defaults.get(k)) != current.get(k)
    )
    if changed:
        shown = ", ".join(
            f"{k}={saved.get(k, defaults.get(k))!r} (now {current.get(k)!r})" for k in changed[:4]
        )
        raise UnitrlError(
            f"{path}: checkpoint was made with other settings: {shown}; resume with the same config"
        )

    device = trainer.device
    _load_policy_state(trainer.model, torch.load(path / "policy.pt", map_location=device, weights_only=True))
    trainer.critic.load_state_dict(torch.load(path / "critic.pt", map_location=device, weights_only=True))
    optim = torch.load(path / "optim.pt", map_location=device, weights_only=True)
    trainer.optimizer.load_state_dict(optim["policy"])
    trainer.critic_optimizer.load_state_dict(optim["critic"])
    trainer.buffer.load_state_dict(json.loads((path / "buffer.json").read_text(encoding="utf-8")))
    version, internal, gauss = meta["trainer_rng"]
    trainer.rng.setstate((version, tuple(internal), gauss))
    trainer.step_count = int(meta["step"])
    _set_rng_state(torch.load(path / "rng.pt", weights_only=True))


def latest_checkpoint(directory: str | os.PathLike[str]) -> Path | None:
    """The complete checkpoint with the highest step under ``directory`` (``step-NNNNNN``), or ``None``."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    done = [p for p in directory.glob("step-*") if p.is_dir() and all((p / f).is_file() for f in _FILES)]
    return max(done, key=lambda p: int(p.name.split("-", 1)[1]), default=None)
