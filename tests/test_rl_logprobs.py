"""The bounded-memory log-probs equal the obvious full-logits computation, values and gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from unitrl.models import load_model  # noqa: E402
from unitrl.rl.critic import pad_sequences  # noqa: E402
from unitrl.rl.logprobs import token_logprobs  # noqa: E402

PAIRS = [([5, 6, 7], [8, 9]), ([11], [12, 13, 14, 15]), ([3, 4, 5, 6, 7], [2])]


def naive(model, pairs, pad_id):
    input_ids, attention = pad_sequences([p + c for p, c in pairs], pad_id)
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    mask = torch.zeros_like(logp)
    for i, (p, c) in enumerate(pairs):
        mask[i, len(p) - 1 : len(p) - 1 + len(c)] = 1
    return logp * mask, mask


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_values_and_gradients_match_full_logits(tiny_path, chunk):
    model, _ = load_model(str(tiny_path))
    expected, expected_mask = naive(model, PAIRS, 0)
    (expected.sum()).backward()
    expected_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)

    got, mask, hidden, attention = token_logprobs(model, PAIRS, 0, with_hidden=True, chunk=chunk)
    assert torch.equal(mask, expected_mask)
    assert torch.allclose(got, expected, atol=1e-5)
    assert hidden is not None and hidden.shape[:2] == attention.shape and not hidden.requires_grad
    got.sum().backward()
    for name, grad in expected_grads.items():
        param = dict(model.named_parameters())[name]
        assert param.grad is not None and torch.allclose(param.grad, grad, atol=1e-5), name


def test_no_grad_and_empty_prompt(tiny_path):
    model, _ = load_model(str(tiny_path))
    with torch.no_grad():
        got, mask, hidden, _ = token_logprobs(model, PAIRS, 0)
    assert hidden is None and not got.requires_grad and (got[mask == 0] == 0).all()
    with pytest.raises(ValueError, match="empty prompt"):
        token_logprobs(model, [([], [1, 2])], 0)
