"""Batched generation on a tiny random Qwen2 (built locally in about a second; no downloads)."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")

from unitrl.evaluation.generate import (  # noqa: E402
    apply_stops,
    find_stop,
    generate,
    sample_completions,
    token_bounded_batches,
)
from unitrl.models import build_tiny_model, load_model  # noqa: E402

PROMPTS = [
    "def add(a, b):\n    return",
    "import math\n\n\ndef is_prime(n):\n    if n < 2:\n        return False\n",
    "x",
]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest single-threaded (thread start-up dominates); shared CI VMs make it worse."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "plain", chat=False)
    return load_model(str(path))


def test_shapes_and_finish_reasons(tiny):
    model, tok = tiny
    out = sample_completions(
        model, tok, PROMPTS, n=3, temperature=1.0, max_new_tokens=8, batch_size=4, seed=0
    )
    assert [len(row) for row in out] == [3, 3, 3]
    for row in out:
        for c in row:
            assert c.finish_reason in ("eos", "length")
            assert 1 <= c.num_tokens <= 8
            assert c.finish_reason != "length" or c.num_tokens == 8


def test_seed_makes_sampling_deterministic(tiny):
    model, tok = tiny
    kwargs = {"n": 2, "temperature": 1.0, "max_new_tokens": 6, "batch_size": 2}
    a = generate(model, tok, PROMPTS, seed=123, **kwargs)
    b = generate(model, tok, PROMPTS, seed=123, **kwargs)
    c = generate(model, tok, PROMPTS, seed=124, **kwargs)
    assert a == b
    assert a != c


def test_greedy_is_batch_invariant_and_copies_samples(tiny):
    model, tok = tiny
    batched = generate(model, tok, PROMPTS, n=2, temperature=0.0, max_new_tokens=8, batch_size=8)
    single = [
        generate(model, tok, [p], temperature=0.0, max_new_tokens=8, batch_size=1)[0][0] for p in PROMPTS
    ]
    assert [row[0] for row in batched] == single  # left padding does not change greedy output
    assert all(row[0] == row[1] for row in batched)


def test_token_bounded_batches():
    # rows come longest first; each batch is padded to its first row
    assert token_bounded_batches([3768, 919, 450, 200, 180, 160], 4, 2048) == [(0, 1), (1, 3), (3, 6)]
    assert token_bounded_batches([10] * 5, 2, 10_000) == [(0, 2), (2, 4), (4, 5)]  # batch_size still binds
    assert token_bounded_batches([5000], 8, 100) == [(0, 1)]  # a prompt longer than the budget runs alone
    assert token_bounded_batches([], 4, 100) == []


def test_long_prompt_gets_a_smaller_batch_and_the_same_output(tiny):
    model, tok = tiny
    prompts = ["def f(x):\n    " + "x = x + 1\n    " * 60 + "return", *PROMPTS]
    sizes: list[int] = []
    kwargs = {"temperature": 0.0, "max_new_tokens": 6, "batch_size": 4}
    bounded = sample_completions(
        model, tok, prompts, max_batch_tokens=300, on_batch=lambda done: sizes.append(len(done)), **kwargs
    )
    assert len(tok(prompts[0])["input_ids"]) > 300 // 2  # so it cannot share a batch under the bound
    assert sizes == [1, 3]
    unbounded = sample_completions(model, tok, prompts, max_batch_tokens=10**6, **kwargs)
    assert [r[0].text for r in bounded] == [r[0].text for r in unbounded]


def test_stop_strings_end_rows_early(tiny):
    model, tok = tiny
    free = sample_completions(model, tok, PROMPTS, max_new_tokens=12)
    # stop at the first character the model produced for prompt 0: that row must end after its first token
    first_char = free[0][0].text[:1]
    assert first_char
    out = sample_completions(model, tok, PROMPTS, max_new_tokens=12, stop=[first_char])
    assert out[0][0].text == "" and out[0][0].finish_reason == "stop" and out[0][0].num_tokens == 1
    # per-prompt stops: only prompt 1 gets the stop
    per = sample_completions(model, tok, PROMPTS, max_new_tokens=12, stop=[[], [first_char], []])
    assert per[0][0].text == free[0][0].text
    assert first_char not in per[1][0].text


def test_regex_stop_keeps_the_match(tiny):
    model, tok = tiny
    free = generate(model, tok, PROMPTS[:1], max_new_tokens=12)[0][0]
    assert len(free) >= 2
    pattern = re.compile(re.escape(free[:2]))
    out = sample_completions(model, tok, PROMPTS[:1], max_new_tokens=12, stop=[pattern])[0][0]
    assert out.text == free[:2] and out.finish_reason == "stop"


def test_training_mode_is_restored(tiny):
    model, tok = tiny
    model.train()
    try:
        generate(model, tok, ["x"], max_new_tokens=2)
        assert model.training
    finally:
        model.eval()


def test_chat_model_stops_at_eos_and_progress_bar(tmp_path):
    model, tok = load_model(str(build_tiny_model(tmp_path / "chat", chat=True)))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    out = sample_completions(model, tok, [text], max_new_tokens=4, add_special_tokens=False, progress=True)
    assert len(out) == 1 and out[0][0].num_tokens <= 4
    advanced = []
    sample_completions(
        model, tok, [text, text], n=2, temperature=0.5, max_new_tokens=2, progress=advanced.append
    )
    assert sum(advanced) == 4


def test_bad_arguments(tiny):
    model, tok = tiny
    with pytest.raises(ValueError):
        generate(model, tok, ["x"], n=0)
    with pytest.raises(ValueError):
        generate(model, tok, ["x"], batch_size=0)
    with pytest.raises(ValueError):
        generate(model, tok, ["x", "y"], stop=[["a"], ["b"], ["c"]])


def test_find_stop_and_apply_stops():
    assert find_stop("abc\ndef x", ["\ndef "]) == 3
    assert find_stop("abc", ["z"]) is None
    assert find_stop("a```python\nx\n```tail", [re.compile(r"```python\n.*?\n```", re.S), "tail"]) == 16
    assert apply_stops("hello world", ["o w", "ld"]) == "hell"


def feed(tokenizer, text: str, stops, prompt_len: int = 3):
    """Drive the stop criterion token by token over ``text`` like ``generate`` would; returns it."""
    from unitrl.evaluation.generate import _criteria_class

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    criterion = _criteria_class()(tokenizer, prompt_len, [tuple(stops)], [])
    seq = torch.zeros(1, prompt_len, dtype=torch.long)
    for token in ids:
        seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
        if criterion(seq, None).all():
            break
    return criterion, ids


def test_incremental_stop_detection_matches_full_decoding():
    from unitrl.evaluation.prompts import CODE_BLOCK_CLOSED, COMPLETION_STOPS
    from unitrl.models.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(chat=True)
    body = "    x = 'héllo wörld ✓ 日本'\n    return x\n"
    criterion, ids = feed(tok, body + "\n\ndef main():\n    pass\n", COMPLETION_STOPS)
    assert 0 in criterion.stopped_at
    used = ids[: criterion.stopped_at[0]]
    assert tok.decode(used).startswith(body) and len(used) < len(ids)
    assert criterion.text[0] == tok.decode(used)  # the streamed text is exact, unicode included

    answer = "Sure ✓:\n```python\ndef f():\n    return '日本'\n```\nIt returns a string."
    criterion, ids = feed(tok, answer, [CODE_BLOCK_CLOSED])
    assert tok.decode(ids[: criterion.stopped_at[0]]).startswith(answer.split("\nIt")[0])
    criterion, _ = feed(tok, "```python\ndef f():\n    return 1\n", [CODE_BLOCK_CLOSED])
    assert not criterion.stopped_at  # an open block does not stop
