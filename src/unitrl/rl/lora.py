"""LoRA adapters for RL training (peft), and exporting a trained policy for ``unitrl eval``.

Why LoRA: full fine-tuning of even a 0.5B policy keeps fp32 weights, gradients and two Adam moments
(~8 GB) and, with a KL penalty, a second full copy as the reference.  With LoRA only the adapters (a few MB)
get gradients and optimiser state, and the frozen base *is* the KL reference (adapters disabled), since
peft initialises ``lora_B`` to zero: the wrapped model starts out identical to the base.

Settings are the ``lora_*`` keys of ``unitrl train`` (``lora_r=16 lora_alpha=32``); ``lora_r=0`` (the
default) means full fine-tuning.  peft is imported only when LoRA is used.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unitrl.errors import UnitrlError
from unitrl.io import atomic_directory

#: Every linear layer of a Qwen2 decoder block (attention and MLP): adapting all of them works better than
#: attention only at the same parameter budget (QLoRA, Dettmers et al. 2023).
QWEN2_TARGET_MODULES = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


@dataclass
class LoraSettings:
    """LoRA hyper-parameters; on the command line each field is ``lora_<field>`` (``lora_r=16``)."""

    #: Rank of the adapters; 0 = no LoRA (full fine-tuning of every weight).
    r: int = 0
    #: Scaling numerator: the adapter's update is multiplied by ``alpha / r`` (2 * r is a common choice).
    alpha: float = 32.0
    #: Dropout on the adapters' input during training (0 keeps rollouts and updates on the same function).
    dropout: float = 0.0
    #: Comma-separated names of the linear modules to adapt (default: every linear layer of Qwen2).
    target_modules: str = QWEN2_TARGET_MODULES

    @property
    def enabled(self) -> bool:
        return self.r > 0

    def targets(self) -> list[str]:
        return [m.strip() for m in self.target_modules.split(",") if m.strip()]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """One-line :class:`UnitrlError` naming the ``lora_*`` key that is out of range."""
        if self.r < 0:
            raise UnitrlError(f"config: lora_r must be >= 0 (0 = no LoRA), got {self.r}")
        if self.alpha <= 0:
            raise UnitrlError(f"config: lora_alpha must be > 0, got {self.alpha}")
        if not 0 <= self.dropout < 1:
            raise UnitrlError(f"config: lora_dropout must be in [0, 1), got {self.dropout}")
        if self.enabled and not self.targets():
            raise UnitrlError("config: lora_target_modules is empty; name the modules to adapt (q_proj,...)")


def _require_peft() -> Any:
    try:
        import peft
    except ImportError:
        raise UnitrlError("LoRA needs the peft package: pip install peft (or set lora_r=0)") from None
    return peft


def is_peft_model(model: Any) -> bool:
    """True for a peft-wrapped model (without importing peft when it is not installed)."""
    return any(cls.__module__.startswith("peft.") for cls in type(model).__mro__)


def apply_lora(model: Any, settings: LoraSettings) -> Any:
    """``model`` wrapped with fresh LoRA adapters; only the adapters are trainable afterwards.

    Returns ``model`` unchanged when ``settings.r == 0``.  The wrapper behaves like the model for
    generation and forward passes (``collect_rollouts`` and the trainers need no change).
    """
    settings.validate()
    if not settings.enabled:
        return model
    peft = _require_peft()
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.targets(),
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        with warnings.catch_warnings():
            # peft calls transformers' deprecated is_gradient_checkpointing: not ours to fix, noise in a log
            warnings.simplefilter("ignore", FutureWarning)
            wrapped = peft.get_peft_model(model, config)
    except ValueError as e:  # e.g. no module matches target_modules
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnitrlError(f"cannot add LoRA adapters ({first}); check lora_target_modules") from None
    return wrapped


def trainable_parameter_count(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (for the log line that says what is being trained)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def save_policy(model: Any, tokenizer: Any, directory: str | os.PathLike[str]) -> Path:
    """Save a trained policy as a plain Hugging Face checkpoint that ``unitrl.models.load_model`` loads.

    A LoRA model is merged first (:func:`merge_and_save`); written to a temporary sibling directory and
    renamed into place, so a killed save never leaves half a model where ``unitrl eval`` would find it.
    """
    if is_peft_model(model):
        return merge_and_save(model, tokenizer, directory)
    return _atomic_save(model, tokenizer, Path(directory))


def _half_dtypes() -> tuple[Any, ...]:
    import torch

    return (torch.bfloat16, torch.float16)


def merge_and_save(
    model: Any, tokenizer: Any, directory: str | os.PathLike[str], *, inplace: bool = False
) -> Path:
    """Merge a peft model's adapters into its base weights and save the result to ``directory``.

    By default the merge happens on a copy, so the caller's wrapped model keeps training (mid-run exports);
    ``inplace=True`` saves the memory of that copy at the end of a run (the wrapper is unusable after).
    """
    if not is_peft_model(model):
        raise TypeError("merge_and_save expects a peft model; use save_policy for a plain model")
    source = model if inplace else copy.deepcopy(model)
    if any(p.dtype in _half_dtypes() for p in source.parameters()):
        # Merged into bfloat16 weights, an RL update of relative size < 2**-9 rounds away entirely; merged
        # and saved in float32 it is kept (``unitrl eval --dtype`` then chooses what precision to run in).
        source = source.float()
    merged = source.merge_and_unload()
    return _atomic_save(merged, tokenizer, Path(directory))


def _atomic_save(model: Any, tokenizer: Any, path: Path) -> Path:
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    try:
        hf_logging.disable_progress_bar()  # a one-file "Writing model shards" bar is noise in a training log
        with atomic_directory(path) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return path
