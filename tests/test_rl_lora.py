"""Exporting a LoRA policy trained over bfloat16 base weights keeps its (small) update."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")

from unitrl.models import load_model  # noqa: E402
from unitrl.rl.lora import LoraSettings, apply_lora, merge_and_save  # noqa: E402


def test_merge_over_bfloat16_base_is_saved_in_float32_with_the_update(tiny_path, tmp_path):
    model, tok = load_model(str(tiny_path), dtype="bfloat16")
    wrapped = apply_lora(model, LoraSettings(r=4, alpha=8))
    name, weight = next(
        (n, p) for n, p in wrapped.named_parameters() if n.endswith("q_proj.base_layer.weight")
    )
    base = weight.detach().float().clone()
    with torch.no_grad():  # an update far below bfloat16's resolution of these weights (~2**-9 relative)
        for n, p in wrapped.named_parameters():
            if "lora_" in n:
                assert p.dtype == torch.float32  # peft keeps adapters in float32 over half-precision weights
                p.fill_(1e-3)
    path = merge_and_save(wrapped, tok, tmp_path / "policy")
    merged, _ = load_model(str(path), dtype="float32")
    key = name.replace("base_model.model.", "").replace(".base_layer", "")
    saved = dict(merged.named_parameters())[key].detach()
    delta = saved - base
    scale = 8 / 4
    expected = 4 * 1e-3 * 1e-3 * scale  # (B @ A)[i, j] = r * b * a, times alpha / r
    assert torch.allclose(delta, torch.full_like(delta, expected), rtol=1e-3, atol=1e-9)
    # the same update rounded into bfloat16 weights would mostly vanish
    assert (base.bfloat16().float() + expected).bfloat16().float().eq(base).float().mean() > 0.5
