"""PPO on a tiny random Qwen2: GAE and clipping by hand, whole steps, resume, LoRA, the CLI.

Random weights never pass a test, so whole-step tests score a program picked by the completion's length
parity (as in test_rl_grpo) to get unequal rewards.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from tests.rl_support import TOY_TASKS, params_of, same_params, varied_extract  # noqa: E402
from unitrl.errors import UnitrlError  # noqa: E402
from unitrl.execution import ExecutionConfig, Executor  # noqa: E402
from unitrl.models import load_model  # noqa: E402
from unitrl.rewards import ExecutionReward  # noqa: E402
from unitrl.rl.build import build_trainer, config_class, resolve_settings  # noqa: E402
from unitrl.rl.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from unitrl.rl.ppo import (  # noqa: E402
    PPOConfig,
    PPOTrainer,
    clipped_policy_loss,
    clipped_value_loss,
    gae,
    whiten,
)
from unitrl.tasks import write_tasks  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def reward():
    with Executor(ExecutionConfig(workers=1, timeout=30.0, test_timeout=2.0)) as ex:
        yield ExecutionReward(
            ex, {t.task_id: t for t in TOY_TASKS}, extract=varied_extract, reward="pass_all"
        )


def small_config(tmp_path, **overrides) -> PPOConfig:
    base = {
        "k": 3,
        "prompts_per_step": 2,
        "max_new_tokens": 10,
        "learning_rate": 1e-3,
        "value_learning_rate": 1e-2,
        "value_hidden": 8,
        "reward": "pass_all",
        "kl_coef": 0.1,
        "out": str(tmp_path / "run"),
    }
    base.update(overrides)
    return PPOConfig.from_dict(base)


# --- the estimator and losses by hand -----------------------------------------------------------------------


def test_gae_by_hand():
    # one row: a prompt position (masked), three completion tokens, one pad
    rewards = torch.tensor([[9.0, 0.1, -0.2, 1.0, 7.0]])
    values = torch.tensor([[5.0, 0.5, 0.4, 0.3, 6.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])
    gamma, lam = 0.9, 0.8
    d3 = 1.0 + gamma * 0.0 - 0.3  # last token: the value after it is 0
    d2 = -0.2 + gamma * 0.3 - 0.4
    d1 = 0.1 + gamma * 0.4 - 0.5
    a3 = d3
    a2 = d2 + gamma * lam * a3
    a1 = d1 + gamma * lam * a2
    adv, ret = gae(rewards, values, mask, gamma, lam)
    assert adv.tolist()[0] == pytest.approx([0.0, a1, a2, a3, 0.0])
    assert ret.tolist()[0] == pytest.approx([0.0, a1 + 0.5, a2 + 0.4, a3 + 0.3, 0.0])
    # gamma = lam = 1: advantages are reward-to-go minus the value (Monte Carlo)
    adv, _ = gae(rewards, values, mask, 1.0, 1.0)
    assert adv.tolist()[0] == pytest.approx([0.0, 0.9 - 0.5, 0.8 - 0.4, 1.0 - 0.3, 0.0])
    # rows are independent
    two, _ = gae(
        rewards.repeat(2, 1), values.repeat(2, 1), torch.cat([mask, torch.zeros_like(mask)]), 0.9, 0.8
    )
    assert two[0].tolist() == pytest.approx([0.0, a1, a2, a3, 0.0]) and two[1].abs().sum() == 0


def test_whiten_is_masked():
    x = torch.tensor([[100.0, 1.0, 2.0, 3.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    w = whiten(x, mask)
    assert w[0, 0] == 0 and float(w[0, 1:].mean()) == pytest.approx(0.0, abs=1e-6)
    assert float((w[0, 1:] ** 2).mean()) == pytest.approx(1.0, abs=1e-4)


def test_clipping_zeroes_the_gradient_outside_the_range():
    old = torch.zeros(1, 4)
    # ratios e^0.5 (1.65) and e^-0.5 (0.61) are outside [0.8, 1.2]; 1.1 and 0.9 are inside
    new = torch.tensor([[0.5, -0.5, math.log(1.1), math.log(0.9)]], requires_grad=True)
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    mask = torch.ones(1, 4)
    loss, stats = clipped_policy_loss(new, old, adv, mask, 0.2)
    loss.backward()
    grad = new.grad[0]
    # clipped in the direction the advantage pushes: constant, no gradient
    assert grad[0] == 0 and grad[1] == 0
    # inside the range: the plain surrogate -A * ratio / n, d/dlogp = -A * ratio / n
    assert float(grad[2]) == pytest.approx(-1.1 / 4) and float(grad[3]) == pytest.approx(0.9 / 4)
    assert stats["clipfrac"] == pytest.approx(0.5)
    # a ratio outside the range *against* the advantage is not clipped: it still gets a gradient
    new2 = torch.tensor([[-0.5]], requires_grad=True)
    loss2, stats2 = clipped_policy_loss(new2, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), 0.2)
    loss2.backward()
    assert float(new2.grad) == pytest.approx(-math.exp(-0.5)) and stats2["clipfrac"] == 0


def test_value_clipping():
    old, ret, mask = torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2)
    v = torch.tensor([[0.5, 0.0]], requires_grad=True)
    loss = clipped_value_loss(v, old, ret, mask, clip=0.2)
    # token 0: unclipped (0.5-1)^2=0.25, clipped (0.2-1)^2=0.64 -> the clipped term wins: no gradient
    # token 1: unclipped (0+1)^2=1 = clipped (0+1)^2: gradient flows
    assert float(loss.detach()) == pytest.approx(0.5 * (0.64 + 1.0) / 2)
    loss.backward()
    assert v.grad[0, 0] == 0 and float(v.grad[0, 1]) == pytest.approx(0.5)
    assert float(clipped_value_loss(v.detach(), old, ret, mask, clip=0.0)) == pytest.approx(
        0.5 * (0.25 + 1.0) / 2
    )


def test_config_and_registration():
    assert config_class("ppo") is PPOConfig
    config, _lora = resolve_settings("ppo", {"clip_range": 0.1}, ["ppo_epochs=3", "whiten_advantages=false"])
    assert (config.clip_range, config.ppo_epochs, config.whiten_advantages) == (0.1, 3, False)
    for bad in ("lam=1.5", "clip_range=0", "num_minibatches=0", "nope=1"):
        with pytest.raises(UnitrlError):
            PPOConfig().with_overrides([bad])


# --- whole steps -------------------------------------------------------------------------------------------


def test_steps_change_the_policy_with_finite_metrics(tiny_path, reward, tmp_path):
    model, tok = load_model(str(tiny_path))
    trainer = build_trainer(small_config(tmp_path), model, tok, TOY_TASKS, reward)
    assert isinstance(trainer, PPOTrainer)
    before, head_before = params_of(model), params_of(trainer.value_head)
    m1, m2 = trainer.step(), trainer.step()
    keys = ("reward_mean", "pass_rate", "loss", "pg_loss", "value_loss", "kl", "clipfrac", "approx_kl")
    for m in (m1, m2):
        for key in (*keys, "grad_norm", "explained_variance", "advantage_mean"):
            assert key in m and math.isfinite(m[key]), key
    assert m1["kl"] == pytest.approx(0.0, abs=1e-5)  # the first batch is sampled by the reference itself
    assert trainer.step_count == 2
    assert not same_params(before, params_of(model))
    assert not same_params(head_before, params_of(trainer.value_head))
    assert trainer.reference is not None  # full fine-tuning: a frozen copy
    assert all(not p.requires_grad for p in trainer.reference.parameters())


def test_resume_reproduces_the_next_step(tiny_path, reward, tmp_path):
    config = small_config(tmp_path)
    a = PPOTrainer(config, *load_model(str(tiny_path)), TOY_TASKS, reward)
    a.step()
    checkpoint = save_checkpoint(a, tmp_path / "ckpts" / "step-000001")
    assert latest_checkpoint(tmp_path / "ckpts") == checkpoint
    expected = a.step()

    b = PPOTrainer(config, *load_model(str(tiny_path)), TOY_TASKS, reward)
    load_checkpoint(b, checkpoint)
    assert b.step_count == 1
    assert b.step() == expected
    assert same_params(params_of(a.model), params_of(b.model))
    assert same_params(params_of(a.value_head), params_of(b.value_head))

    other = PPOTrainer(small_config(tmp_path, clip_range=0.3), *load_model(str(tiny_path)), TOY_TASKS, reward)
    with pytest.raises(UnitrlError, match="other settings"):
        load_checkpoint(other, checkpoint)


def test_lora_uses_the_base_as_reference(tiny_path, reward, tmp_path):
    pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")
    from unitrl.rl.lora import LoraSettings, apply_lora

    wrapped = apply_lora(load_model(str(tiny_path))[0], LoraSettings(r=4, alpha=8))
    tok = load_model(str(tiny_path))[1]
    base_before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if not p.requires_grad}
    trainer = PPOTrainer(small_config(tmp_path, k=2, ppo_epochs=1), wrapped, tok, TOY_TASKS, reward)
    assert trainer.reference is None and trainer.reference_is_base
    m = trainer.step()
    assert m["kl"] == pytest.approx(0.0, abs=1e-5) and math.isfinite(m["loss"])
    after = dict(wrapped.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in base_before.items())


# --- the command line --------------------------------------------------------------------------------------

RUNNER = """
import sys
from unitrl.cli import app, main, train


if not any(c.name == "train" for c in app.registered_commands):
    train.register(app)
sys.argv = ["unitrl", *sys.argv[1:]]
main()
"""


def test_cli_ppo_run_writes_metrics_and_a_loadable_policy(tiny_path, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    write_tasks(tasks, TOY_TASKS)
    out = tmp_path / "ppo"
    args = ["train", "--no-progress", "--threads", "1", "--algo", "ppo", "--model", str(tiny_path)]
    args += ["--tasks", str(tasks), "--out", str(out), "--steps", "1", "k=2", "prompts_per_step=2"]
    args += ["max_new_tokens=6", "executor_workers=1", "value_hidden=8", "ppo_epochs=1", "reward=coderl"]
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1.0]
    assert {"reward_mean", "pass_rate", "loss", "value_loss", "clipfrac", "approx_kl", "kl"} <= set(rows[0])
    assert json.loads((out / "run.json").read_text())["algo"] == "ppo"
    assert json.loads((out / "config.json").read_text())["value_hidden"] == 8
    assert (out / "checkpoints" / "step-000001").is_dir()
    policy, tok = load_model(str(out / "policy"))
    assert policy.config.hidden_size == 64 and tok.eos_token
