"""Loading Hugging Face / GGUF causal LMs and pulling the default model offline.

``load_model(spec)`` accepts an alias, a checkpoint directory, a ``.gguf`` file or a hub id and always returns
a dense, trainable model with a left-padding tokenizer.  ``build_tiny_model`` makes a random tiny Qwen2 for
tests.  Heavy imports (torch, transformers) happen inside the functions so ``import unitrl.models`` is cheap.
"""

from unitrl.models.loading import is_chat_model, load_gguf_dense, load_model
from unitrl.models.pull import PullResult, pull_model
from unitrl.models.registry import ALIASES, DEFAULT_MODEL, cache_root, is_pulled, model_dir
from unitrl.models.tiny import build_tiny_model

__all__ = [
    "ALIASES",
    "DEFAULT_MODEL",
    "PullResult",
    "build_tiny_model",
    "cache_root",
    "is_chat_model",
    "is_pulled",
    "load_gguf_dense",
    "load_model",
    "model_dir",
    "pull_model",
]
