"""Load a causal LM and its tokenizer from an alias, a local checkpoint, a GGUF file or a hub id.

Every way in ends as a plain, dense, trainable ``PreTrainedModel`` plus a tokenizer set up for batched
generation (left padding, a pad token), so evaluation and training never care where the weights came from.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from unitrl.errors import UnitrlError
from unitrl.models.registry import ALIASES, DEFAULT_MODEL, is_pulled, model_dir


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' per-load progress bars and chatter; errors still surface as exceptions."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_dtype(dtype: Any, device: str) -> Any:
    """``None`` → float32 on CPU (exact, and what training wants), bfloat16 on a GPU that supports it.

    Pass ``"bfloat16"`` explicitly for CPU generation on CPUs with AVX512-BF16/AMX, where it is several times
    faster; ``"auto"`` keeps the checkpoint's own dtype (bfloat16 for pulled aliases).
    """
    import torch

    if dtype is None:
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if isinstance(dtype, str):
        if dtype == "auto":
            return "auto"
        value = getattr(torch, dtype, None)
        if not isinstance(value, torch.dtype):
            raise UnitrlError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16")
        return value
    return dtype


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding (so generated tokens of a batch line up on the right) and a pad token (eos if none)."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_chat_model(tokenizer: Any) -> bool:
    """Whether prompts should go through ``apply_chat_template`` (the tokenizer ships a chat template)."""
    return bool(getattr(tokenizer, "chat_template", None))


def gguf_tensor_count(path: str | os.PathLike[str]) -> int:
    """Number of tensors in a GGUF file (cheap: header only), to size a dequantisation progress bar."""
    from gguf import GGUFReader

    return len(GGUFReader(str(path)).tensors)


@contextlib.contextmanager
def _gguf_tensor_progress(advance: Callable[[int], None] | None) -> Iterator[None]:
    """Route transformers' per-tensor dequantisation loop to ``advance`` (or silence its tqdm bar)."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm

    def tracked(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for item in iterable:
            yield item
            if advance is not None:
                advance(1)

    gguf_utils.tqdm = tracked
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def load_gguf_dense(
    path: str | os.PathLike[str], *, dtype: Any = None, advance: Callable[[int], None] | None = None
) -> tuple[Any, Any]:
    """Load a ``.gguf`` file as a plain dense model (weights dequantised) plus its tokenizer.

    transformers loads GGUF through a quantizer that (depending on version and installed kernels) may keep
    weights packed, or mark the model non-trainable and non-serialisable; rebuilding the model from its
    config and loading the dequantised state dict gives an ordinary model that trains and
    ``save_pretrained``s like any other.  ``advance(1)`` is called per dequantised tensor.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.initialization import no_init_weights
    from transformers.utils.quantization_config import GgufConfig

    path = Path(path)
    if dtype is None or dtype == "auto":  # a dequantised GGUF has no dtype of its own worth keeping
        dtype = torch.float32
    with _quiet_transformers(), _gguf_tensor_progress(advance):
        try:
            loaded = AutoModelForCausalLM.from_pretrained(
                str(path.parent),
                gguf_file=path.name,
                dtype=dtype,
                quantization_config=GgufConfig(dequantize=True),
            )
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        except (ValueError, OSError, KeyError, RuntimeError, TypeError) as e:
            raise UnitrlError(
                f"{path}: cannot load this GGUF file ({_first_line(e)}); pass a supported GGUF model"
            ) from None
        config = loaded.config
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(config, attr):
                delattr(config, attr)
        state = loaded.state_dict()
        del loaded
        with no_init_weights():  # every weight is overwritten below; random init of 0.6B params takes ~12 s
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if config.tie_word_embeddings:
            model.tie_weights()
            missing = [k for k in missing if k != "lm_head.weight"]
        if missing or unexpected:
            raise UnitrlError(
                f"{path}: GGUF weights do not match the {config.model_type} architecture "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]}); pass a supported GGUF model"
            )
    model.generation_config = _generation_config(tokenizer, GenerationConfig)
    tokenizer.model_max_length = config.max_position_embeddings  # a GGUF tokenizer has no limit of its own
    model.eval()
    return model, prepare_tokenizer(tokenizer)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _generation_config(tokenizer: Any, cls: Any) -> Any:
    """Greedy by default, stopping at the tokenizer's eos and, for chat models, also ``<|endoftext|>``.

    A GGUF carries no generation config; sampling settings belong to the caller (evaluation, training).
    """
    eos = [tokenizer.eos_token_id]
    eot = (
        tokenizer.convert_tokens_to_ids("<|endoftext|>") if "<|endoftext|>" in tokenizer.get_vocab() else None
    )
    if eot is not None and eot not in eos:
        eos.append(eot)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[-1]
    return cls(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos if len(eos) > 1 else eos[0],
        pad_token_id=pad,
        do_sample=False,
    )


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~", "/")) and "\\" not in spec


def load_model(
    spec: str,
    *,
    device: str = "cpu",
    dtype: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from ``spec`` onto ``device``, in eval mode.

    ``spec`` is, in order of precedence: a registered alias (e.g. ``qwen2.5-coder-0.5b-instruct``, must be
    pulled first), an existing ``.gguf`` file, an existing directory holding a Hugging Face checkpoint, or a
    hub id (only works where the Hub is reachable).  ``dtype=None`` picks float32 on CPU, bfloat16 on GPU
    (see :func:`resolve_dtype`).  ``cache_dir`` is where aliases were pulled (default: ``$UNITRL_CACHE`` or
    ``~/.cache/unitrl``).
    """
    spec = str(spec)
    torch_dtype = resolve_dtype(dtype, device)
    if spec in ALIASES:
        if not is_pulled(spec, cache_dir):
            hint = "unitrl model pull" if spec == DEFAULT_MODEL else f"unitrl model pull {spec}"
            if cache_dir is not None:
                hint += f" --cache-dir {cache_dir}"
            raise UnitrlError(f"model {spec!r} is not pulled yet; run: {hint}")
        model, tokenizer = _load_pretrained(str(model_dir(spec, cache_dir)), torch_dtype, spec)
    else:
        path = Path(spec).expanduser()
        if path.suffix.lower() == ".gguf":
            if not path.is_file():
                raise UnitrlError(f"{spec}: no such GGUF file (check the path)")
            model, tokenizer = load_gguf_dense(path, dtype=torch_dtype)
        elif path.is_dir():
            if not (path / "config.json").is_file():
                raise UnitrlError(
                    f"{spec}: not a model directory (no config.json); pass a Hugging Face checkpoint dir"
                )
            model, tokenizer = _load_pretrained(str(path), torch_dtype, spec)
        elif path.exists():
            raise UnitrlError(
                f"{spec}: not a model (expected a checkpoint directory, a .gguf file or an alias)"
            )
        elif _looks_like_hub_id(spec):
            model, tokenizer = _load_pretrained(spec, torch_dtype, spec)
        else:
            known = ", ".join(sorted(ALIASES))
            raise UnitrlError(
                f"{spec}: no such file, directory or model alias; pass a checkpoint dir, a .gguf file or one of: {known}"
            )
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as e:
        raise UnitrlError(
            f"cannot move the model to device {device!r} ({_first_line(e)}); use --device cpu"
        ) from None
    model.eval()
    return model, tokenizer


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of the Hub, so an offline machine fails in seconds instead of ~45 s of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # a direct probe says nothing about a proxy; let huggingface_hub try
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_pretrained(source: str, dtype: Any, spec: str) -> tuple[Any, Any]:
    """``from_pretrained`` for model and tokenizer, turning hub/network and format errors into one line.

    Local directories are loaded with ``local_files_only``; a hub id is first looked up in the local
    Hugging Face cache and only then, if the Hub answers at all, downloaded.
    """
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # What from_pretrained raises for a bad checkpoint or an unreachable/unknown hub id (hub errors are
    # OSErrors); anything else is a bug and should surface with its traceback.
    errors = (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        RuntimeError,
        ImportError,
        AttributeError,
        SafetensorError,
    )

    def load(**kwargs: Any) -> tuple[Any, Any]:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
        return model, prepare_tokenizer(tokenizer)

    with _quiet_transformers():
        if Path(source).is_dir():
            try:
                return load(local_files_only=True)
            except errors as e:
                raise UnitrlError(
                    f"{spec}: cannot load this checkpoint ({_first_line(e)}); pass a causal LM directory"
                ) from None
        try:
            return load(local_files_only=True)
        except errors:
            pass
        hint = "pass a local checkpoint directory or .gguf file, or a pulled alias (see: unitrl model list)"
        if not _hub_reachable():
            raise UnitrlError(
                f"{spec}: not in the local Hugging Face cache and the Hub is unreachable; {hint}"
            )
        try:
            return load()
        except errors as e:
            raise UnitrlError(
                f"{spec}: could not load from the Hugging Face Hub ({_first_line(e)}); {hint}"
            ) from None
