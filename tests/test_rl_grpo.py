"""GRPO / RLOO on a tiny random Qwen2: the advantage estimators by hand, whole steps, resume, LoRA, builders.

Random weights never pass a test, so whole-step tests score a program picked by the completion's length
parity (:func:`varied_extract`) to get groups with unequal rewards; the estimators are checked by hand.
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
from unitrl.rl.build import (  # noqa: E402
    load_training_tasks,
    parse_task_specs,
    read_config_file,
    resolve_settings,
)
from unitrl.rl.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from unitrl.rl.grpo import GroupTrainer, GRPOConfig, RLOOConfig, group_advantages  # noqa: E402
from unitrl.rl.lora import LoraSettings  # noqa: E402
from unitrl.rl.rollout import Rollout  # noqa: E402
from unitrl.tasks import write_tasks  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def reward():
    with Executor(ExecutionConfig(workers=1, timeout=30.0, test_timeout=2.0)) as ex:
        yield ExecutionReward(
            ex, {t.task_id: t for t in TOY_TASKS}, extract=varied_extract, reward="pass_all"
        )


def small_config(tmp_path, cls=GRPOConfig, **overrides):
    base = {
        "k": 3,
        "prompts_per_step": 2,
        "max_new_tokens": 10,
        "learning_rate": 1e-3,
        "reward": "pass_all",
        "out": str(tmp_path / "run"),
    }
    base.update(overrides)
    return cls.from_dict(base)


# --- the estimators ----------------------------------------------------------------------------------------


def test_rloo_advantages_by_hand():
    # group [1, 0, 0, 1]: others' mean is 1/3 for a 1 and 2/3 for a 0
    adv = group_advantages([1, 0, 0, 1], 4, baseline="loo", scale_rewards="none")
    assert adv.tolist() == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    # two groups of 3, task-major: [1, 0, 0] and [0.5, 0.5, -1]
    adv = group_advantages([1, 0, 0, 0.5, 0.5, -1], 3, baseline="loo", scale_rewards="none")
    assert adv.tolist() == pytest.approx([1.0, -0.5, -0.5, 0.75, 0.75, -1.5])
    # RLOO = k/(k-1) * (r - group mean)
    group = group_advantages([1, 0, 0, 0.5, 0.5, -1], 3, baseline="group", scale_rewards="none")
    assert adv.tolist() == pytest.approx((group * 1.5).tolist())


def test_grpo_advantages_by_hand():
    std = math.sqrt(1 / 3)  # unbiased std of [1, 0, 0, 1]
    adv = group_advantages([1, 0, 0, 1], 4, baseline="group", scale_rewards="group", eps=1e-4)
    expected = [0.5 / (std + 1e-4), -0.5 / (std + 1e-4), -0.5 / (std + 1e-4), 0.5 / (std + 1e-4)]
    assert adv.tolist() == pytest.approx(expected)
    # no scaling (Dr. GRPO): just centred
    assert group_advantages([1, 0, 0, 1], 4, scale_rewards="none").tolist() == [0.5, -0.5, -0.5, 0.5]
    # batch scaling: one std over all rewards; group means still per group
    r = [1.0, 0.0, 2.0, 2.0]
    batch_std = float(torch.tensor(r).std())
    adv = group_advantages(r, 2, scale_rewards="batch", eps=0.0)
    assert adv.tolist() == pytest.approx([0.5 / batch_std, -0.5 / batch_std, 0.0, 0.0])


def test_equal_rewards_give_zero_advantage_not_nan():
    for baseline in ("group", "loo"):
        for scale in ("group", "batch", "none"):
            adv = group_advantages([1, 1, 1, -1, -1, -1], 3, baseline=baseline, scale_rewards=scale)
            assert torch.equal(adv, torch.zeros(6)), (baseline, scale)


def test_bad_groups_are_rejected():
    with pytest.raises(ValueError, match="groups of k=4"):
        group_advantages([1, 0, 1], 4)
    with pytest.raises(ValueError, match="baseline"):
        group_advantages([1, 0], 2, baseline="critic")


# --- config ------------------------------------------------------------------------------------------------


def test_config_defaults_overrides_and_errors():
    assert (RLOOConfig().baseline, RLOOConfig().scale_rewards) == ("loo", "none")
    assert (GRPOConfig().baseline, GRPOConfig().scale_rewards) == ("group", "group")
    c = GRPOConfig().with_overrides(
        ["k=8", "scale_rewards=none", "length_normalize=true", "executor_workers=none"]
    )
    assert (c.k, c.scale_rewards, c.length_normalize, c.executor_workers) == (8, "none", True, None)
    assert GRPOConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert type(RLOOConfig().with_overrides(["k=2"])) is RLOOConfig
    for bad, match in [
        ("k=1", "k must be >= 2"),
        ("baseline=critic", "baseline must be one of"),
        ("scale_rewards=yes", "scale_rewards must be one of"),
        ("kl_coeff=1", "did you mean 'kl_coef'"),
        ("k=two", "k must be int"),
    ]:
        with pytest.raises(UnitrlError, match=match) as e:
            GRPOConfig().with_overrides([bad])
        assert "\n" not in str(e.value)


def test_resolve_settings_layers_and_lora_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("algo: rloo\nk: 6\nlora_r: 8\ntasks: [mbpp:train, extra.jsonl]\nkl_coef: 0.1\n")
    data = read_config_file(path)
    assert data["tasks"] == "mbpp:train,extra.jsonl"
    config, lora = resolve_settings("rloo", data, ["k=5", "lora_alpha=4"], {"steps": 3, "model": None})
    assert isinstance(config, RLOOConfig)
    assert (config.k, config.steps, config.kl_coef, config.tasks) == (5, 3, 0.1, "mbpp:train,extra.jsonl")
    assert lora == LoraSettings(r=8, alpha=4.0)
    ac, lora = resolve_settings("actor-critic", {}, ["critic_hidden=8"], {})
    assert ac.critic_hidden == 8 and not lora.enabled
    with pytest.raises(UnitrlError, match="unknown config key 'lora_rank'"):
        resolve_settings("grpo", {}, ["lora_rank=4"])
    with pytest.raises(UnitrlError, match="unknown config key 'baseline'"):
        resolve_settings("actor-critic", {}, ["baseline=loo"])
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UnitrlError, match="must hold a mapping"):
        read_config_file(bad)


def test_task_specs(tmp_path):
    assert parse_task_specs("mbpp, humaneval:test", "train") == [("mbpp", "train"), ("humaneval", "test")]
    path = tmp_path / "t.jsonl"
    write_tasks(path, TOY_TASKS)
    assert parse_task_specs(str(path), "train") == [(str(path), None)]
    assert [t.task_id for t in load_training_tasks(str(path))] == ["toy/add", "toy/neg"]
    with pytest.raises(UnitrlError, match="task id 'toy/add' is in both"):
        load_training_tasks(f"{path},{path}")
    assert len(load_training_tasks("mbpp:prompt")) == 10
    with pytest.raises(UnitrlError, match="unknown benchmark"):
        load_training_tasks("nope:train")


# --- whole steps -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GRPOConfig, RLOOConfig])
def test_steps_change_the_policy_with_finite_metrics(tiny_path, reward, tmp_path, cls):
    model, tok = load_model(str(tiny_path))
    trainer = GroupTrainer(small_config(tmp_path, cls, kl_coef=0.1), model, tok, TOY_TASKS, reward)
    before = params_of(model)
    m1, m2 = trainer.step(), trainer.step()
    for m in (m1, m2):
        for key in ("reward_mean", "pass_rate", "loss", "pg_loss", "kl", "advantage_mean", "grad_norm"):
            assert key in m and math.isfinite(m[key]), key
        assert m["n_fresh"] == 6
    assert m1["kl"] == pytest.approx(0.0, abs=1e-6) and trainer.step_count == 2
    assert min(m1["frac_zero_std"], m2["frac_zero_std"]) < 1  # some group had a signal...
    assert 0 < m1["reward_mean"] + m2["reward_mean"] < 2
    assert not same_params(before, params_of(model))  # ...so the policy moved


def hand_batch(tok) -> list[Rollout]:
    """Rollouts with distinct completions (nothing executed): updates with chosen advantages."""
    prompt = "<|im_start|>user\nWrite add.<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    texts = ["def add(a, b):\n    return a + b", "x = 1", "print(3)"]
    return [
        Rollout("toy/add", prompt, ids, tok(t, add_special_tokens=False)["input_ids"], t, t, 0.0)
        for t in texts
    ]


def test_update_moves_log_prob_with_the_advantage(tiny_path, reward, tmp_path):
    model, tok = load_model(str(tiny_path))
    trainer = GroupTrainer(small_config(tmp_path, learning_rate=1e-2), model, tok, TOY_TASKS, reward)
    batch = hand_batch(tok)

    def logp(r):
        with torch.no_grad():
            lp, mask = trainer.sequence_logprobs(model, [r])
            return float((lp * mask).sum())

    old = [logp(r) for r in batch]
    trainer.update_policy(batch, torch.tensor([1.0, -0.5, -0.5]))
    assert logp(batch[0]) > old[0] and logp(batch[1]) < old[1]


def test_resume_reproduces_the_next_step(tiny_path, reward, tmp_path):
    config = small_config(tmp_path, RLOOConfig, kl_coef=0.05)
    a = GroupTrainer(config, *load_model(str(tiny_path)), TOY_TASKS, reward)
    a.step()
    checkpoint = save_checkpoint(a, tmp_path / "ckpts" / "step-000001")
    assert latest_checkpoint(tmp_path / "ckpts") == checkpoint  # the shared layout: found like any run's
    expected = a.step()

    b = GroupTrainer(config, *load_model(str(tiny_path)), TOY_TASKS, reward)
    load_checkpoint(b, checkpoint)
    assert b.step_count == 1
    assert b.step() == expected
    assert same_params(params_of(a.model), params_of(b.model))

    other = GroupTrainer(
        small_config(tmp_path, GRPOConfig, kl_coef=0.05), *load_model(str(tiny_path)), TOY_TASKS, reward
    )
    with pytest.raises(UnitrlError, match="other settings"):
        load_checkpoint(other, checkpoint)


def test_train_writes_metrics_and_checkpoints(tiny_path, reward, tmp_path):
    config = small_config(tmp_path, steps=2, checkpoint_every=1, max_new_tokens=6, k=2)
    trainer = GroupTrainer(config, *load_model(str(tiny_path)), TOY_TASKS, reward)
    seen = []
    assert len(trainer.train(on_step=seen.append)) == 2 and len(seen) == 2
    out = tmp_path / "run"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "config.json").read_text())["baseline"] == "group"
    assert latest_checkpoint(out / "checkpoints") == out / "checkpoints" / "step-000002"


# --- LoRA --------------------------------------------------------------------------------------------------


def test_lora_trains_only_adapters_and_merges(tiny_path, reward, tmp_path):
    pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")
    from unitrl.rl.lora import apply_lora, is_peft_model, merge_and_save, trainable_parameter_count

    model, tok = load_model(str(tiny_path))
    wrapped = apply_lora(model, LoraSettings(r=4, alpha=8))
    assert is_peft_model(wrapped)
    trainable, total = trainable_parameter_count(wrapped)
    assert 0 < trainable < total
    assert all(("lora_" in n) == p.requires_grad for n, p in wrapped.named_parameters())
    base_before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if not p.requires_grad}
    lora_before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if p.requires_grad}

    # kl_coef > 0: the reference is the base with adapters disabled (no copy)
    trainer = GroupTrainer(small_config(tmp_path, kl_coef=0.1, k=2), wrapped, tok, TOY_TASKS, reward)
    assert trainer.reference is None and trainer.reference_is_base
    m1 = trainer.step()
    assert m1["kl"] == pytest.approx(0.0, abs=1e-6)  # lora_B starts at zero: policy == base
    metrics = trainer.update_policy(hand_batch(tok), torch.tensor([1.0, -0.5, -0.5]))
    assert math.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0
    after = dict(wrapped.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in base_before.items())
    assert any(not torch.equal(after[n], v) for n, v in lora_before.items())

    path = merge_and_save(wrapped, tok, tmp_path / "policy")
    merged, _ = load_model(str(path))
    ids = torch.tensor([tok("def add(a, b):", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, wrapped(input_ids=ids).logits, atol=1e-4)

    with pytest.raises(UnitrlError, match="lora_target_modules"):
        apply_lora(load_model(str(tiny_path))[0], LoraSettings(r=2, target_modules="nope_proj"))


def test_importing_unitrl_rl_does_not_import_torch():
    code = (
        "import sys, unitrl.rl, unitrl.rl.build, unitrl.rl.lora, unitrl.rl.logging; "
        "assert 'torch' not in sys.modules and 'peft' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lora_checkpoint_holds_only_adapters_and_resumes_exactly(tiny_path, reward, tmp_path):
    pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")
    from unitrl.rl.lora import apply_lora

    def lora_trainer():
        model, tok = load_model(str(tiny_path))
        return GroupTrainer(
            small_config(tmp_path), apply_lora(model, LoraSettings(r=4, alpha=8)), tok, TOY_TASKS, reward
        )

    a = lora_trainer()
    a.step()
    checkpoint = save_checkpoint(a, tmp_path / "ckpts" / "step-000001")
    saved = torch.load(checkpoint / "policy.pt", weights_only=True)
    assert saved and all("lora_" in key for key in saved)  # the frozen base weights are not copied
    expected = a.step()

    b = lora_trainer()
    load_checkpoint(b, checkpoint)
    assert b.step() == expected
    assert same_params(params_of(a.model), params_of(b.model))
