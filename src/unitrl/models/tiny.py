"""A tiny random-weights Qwen2 model with a real tokenizer, built locally in about a second.

Tests and smoke runs need a model that exercises the full pipeline (tokenise, generate, decode, backprop)
without downloading anything: the Hugging Face Hub is not reachable from CI.  The weights are random, so
the output is gibberish, but every shape, special token and chat-template path matches a real Qwen2 model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# A small, varied Python corpus so the byte-level BPE learns merges for common code fragments
# (indentation, ``def``, ``return``...) and tokenised prompts stay short.
_CORPUS = [
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n',
    "def is_even(n: int) -> bool:\n    return n % 2 == 0\n",
    "def factorial(n):\n    if n <= 1:\n        return 1\n    return n * factorial(n - 1)\n",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    "    for i, x in enumerate(numbers):\n        for j, y in enumerate(numbers):\n"
    "            if i != j and abs(x - y) < threshold:\n                return True\n    return False\n",
    "def reverse_string(s: str) -> str:\n    return s[::-1]\n",
    "def count_words(text):\n    counts = {}\n    for word in text.split():\n"
    "        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n"
    "        self.items.append(item)\n\n    def pop(self):\n        return self.items.pop()\n",
    "import math\n\n\ndef is_prime(n):\n    if n < 2:\n        return False\n"
    "    for k in range(2, int(math.sqrt(n)) + 1):\n        if n % k == 0:\n            return False\n"
    "    return True\n",
    "assert add(1, 2) == 3\nassert is_even(4) is True\nassert reverse_string('abc') == 'cba'\n",
    "def max_element(l: list):\n    m = l[0]\n    for e in l:\n        if e > m:\n            m = e\n    return m\n",
    "while True:\n    try:\n        x = int(input())\n        break\n    except ValueError:\n        print('again')\n",
    "```python\nprint([x * x for x in range(10) if x % 3 == 0])\n```\n",
    "Write a Python function that returns the largest of three numbers.\n",
    "Here is the solution:\n",
]

EOS_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [EOS_TOKEN, IM_START, IM_END]

# Same as transformers.models.qwen2.tokenization_qwen2.PRETOKENIZE_REGEX (copied: that name is private).
QWEN2_SPLIT_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

# Qwen-style ChatML; the same shape as the real Qwen2.5 instruct template minus tool calling.
CHATML_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_tiny_tokenizer(*, chat: bool = True, vocab_size: int = 512):
    """Train a byte-level BPE on the built-in corpus and wrap it as a ``PreTrainedTokenizerFast``.

    Byte-level means any string (unicode, odd whitespace) round-trips, like the real Qwen tokenizer.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Qwen2's own pipeline (NFC, Qwen split regex, byte level): transformers rebuilds a qwen2 model's
    # tokenizer with it on load, so training with anything else would make saved and loaded tokenizers differ.
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END if chat else EOS_TOKEN,
        pad_token=EOS_TOKEN,
        additional_special_tokens=[IM_START, IM_END] if chat else None,
        clean_up_tokenization_spaces=False,
        model_max_length=2048,
    )
    if chat:
        wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def build_tiny_model(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    chat: bool = True,
    hidden_size: int = 64,
    num_layers: int = 2,
) -> Path:
    """Save a tiny random Qwen2 causal LM and its tokenizer to ``path`` (created) and return the path.

    ``chat=False`` gives a plain completion model (no chat template, eos ``<|endoftext|>``), to exercise the
    non-chat prompting path.  Same ``seed`` → identical weights, so tests are reproducible.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(chat=chat)
    eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    pad_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=pad_id, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "unitrl_tiny.json").write_text(json.dumps({"seed": seed, "chat": chat}) + "\n", encoding="utf-8")
    return path


def build_tiny_gguf(path: str | os.PathLike[str], *, seed: int = 0, chat: bool = True) -> Path:
    """Write the tiny model as a float32 ``qwen2`` GGUF file at ``path`` (a ``.gguf`` file name).

    Lets tests exercise the GGUF loading path (the one the default model takes) without the 490 MB file.
    Written with the ``gguf`` library the way llama.cpp's converter lays out Qwen2: same tensor names,
    metadata keys and ``gpt2`` byte-level tokenizer fields.
    """
    import tempfile

    import gguf
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        build_tiny_model(tmp, seed=seed, chat=chat)
        model = AutoModelForCausalLM.from_pretrained(tmp)
        tokenizer = AutoTokenizer.from_pretrained(tmp)
    cfg = model.config
    vocab = tokenizer.get_vocab()
    tokens = [tok for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    special = set(SPECIAL_TOKENS)
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]

    writer = gguf.GGUFWriter(str(path), arch="qwen2")
    writer.add_name("unitrl tiny qwen2")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_token_merges(merges)
    writer.add_eos_token_id(vocab[tokenizer.eos_token])
    writer.add_bos_token_id(vocab[EOS_TOKEN])
    writer.add_pad_token_id(vocab[EOS_TOKEN])
    writer.add_add_bos_token(False)
    if chat:
        writer.add_chat_template(CHATML_TEMPLATE)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # tied: llama.cpp omits output.weight and transformers re-ties on load
        gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"no GGUF name for tensor {name}")
        writer.add_tensor(gguf_name, tensor.detach().float().numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
