"""CodeRL on a tiny random Qwen2: the outcome critic learns then stays frozen, CE mixing, steps, resume, CLI.

The reward's extract picks a program by the completion's length mod 4, so samples get all four outcome
classes (syntax error, runtime error, failed test, pass) deterministically for a fixed seed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from tests.rl_support import TOY_TASKS, params_of, same_params  # noqa: E402
from unitrl.errors import UnitrlError  # noqa: E402
from unitrl.execution import ExecutionConfig, Executor  # noqa: E402
from unitrl.execution.types import SampleResult  # noqa: E402
from unitrl.models import load_model  # noqa: E402
from unitrl.rewards import ExecutionReward  # noqa: E402
from unitrl.rl.build import build_trainer, config_class, resolve_settings  # noqa: E402
from unitrl.rl.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from unitrl.rl.coderl import (  # noqa: E402
    OUTCOME_CLASSES,
    CodeRLConfig,
    CodeRLTrainer,
    loo_baseline,
    outcome_labels,
    reference_completion,
)
from unitrl.rl.rollout import Rollout  # noqa: E402
from unitrl.tasks import Task, write_tasks  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TASKS = TOY_TASKS


def four_way_extract(completion: str, task: Task) -> str:
    return [
        task.reference,
        f"def {task.entry_point}(*args):\n    return None\n",
        f"def {task.entry_point}(*args):\n    raise ValueError\n",
        f"def {task.entry_point}(:\n",
    ][len(completion) % 4]


@pytest.fixture(scope="module")
def reward():
    with Executor(ExecutionConfig(workers=1, timeout=30.0, test_timeout=2.0)) as ex:
        yield ExecutionReward(ex, {t.task_id: t for t in TASKS}, extract=four_way_extract, reward="coderl")


def small_config(tmp_path, **overrides) -> CodeRLConfig:
    base = {
        "k": 3,
        "prompts_per_step": 2,
        "max_new_tokens": 10,
        "learning_rate": 1e-3,
        "critic_hidden": 8,
        "critic_pretrain_batches": 1,
        "critic_epochs": 5,
        "critic_learning_rate": 1e-2,
        "out": str(tmp_path / "run"),
    }
    base.update(overrides)
    return CodeRLConfig.from_dict(base)


def labelled_batch(tok) -> list[Rollout]:
    """Four hand-made rollouts, one per outcome class (nothing executed)."""
    prompt = "<|im_start|>user\nWrite add.<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    texts = ["def add(a, b):\n    return a + b", "x = 1 +", "print(3)", "return None"]
    outcomes = ["pass", "syntax_error", "runtime_error", "fail"]
    return [
        Rollout(
            "toy/add",
            prompt,
            ids,
            tok(t, add_special_tokens=False)["input_ids"],
            t,
            t,
            0.0,
            result=SampleResult(outcome=o, tests_passed=int(o == "pass"), tests_total=1),
        )
        for t, o in zip(texts, outcomes, strict=True)
    ]


# --- pieces ------------------------------------------------------------------------------------------------


def test_outcome_classes_and_baseline(tiny_path):
    _, tok = load_model(str(tiny_path))
    assert outcome_labels(labelled_batch(tok)).tolist() == [3, 0, 1, 2]
    assert OUTCOME_CLASSES["timeout"] == OUTCOME_CLASSES["runtime_error"]
    assert loo_baseline(torch.tensor([1.0, 0.0, -1.0]), 3).tolist() == pytest.approx([-0.5, 0.0, 0.5])
    assert reference_completion(TASKS[0], tok) == "```python\ndef add(a, b):\n    return a + b\n```"


def test_config_and_registration():
    assert config_class("coderl") is CodeRLConfig
    config, _lora = resolve_settings("coderl", {}, ["mix_ce=0.5", "critic_epochs=3"])
    assert (config.mix_ce, config.critic_epochs, config.reward) == (0.5, 3, "coderl")
    for bad in ("k=1", "mix_ce=-1", "critic_epochs=0"):
        with pytest.raises(UnitrlError):
            CodeRLConfig().with_overrides([bad])


def test_critic_loss_falls_on_fixed_labels(tiny_path, reward, tmp_path):
    model, tok = load_model(str(tiny_path))
    trainer = CodeRLTrainer(small_config(tmp_path), model, tok, TASKS, reward)
    losses = trainer.fit_critic(labelled_batch(tok), epochs=30)
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.5 * losses[0]


def test_critic_stays_frozen_and_policy_moves(tiny_path, reward, tmp_path):
    model, tok = load_model(str(tiny_path))
    trainer = build_trainer(small_config(tmp_path), model, tok, TASKS, reward)
    assert isinstance(trainer, CodeRLTrainer)
    untrained = params_of(trainer.critic)
    policy_before = params_of(model)
    m1 = trainer.step()  # trains the critic first, then freezes it, then one policy step
    assert m1["critic_pretrain_samples"] == 6 and "critic_pretrain_loss_last" in m1
    assert not same_params(untrained, params_of(trainer.critic))
    assert all(not p.requires_grad for p in trainer.critic.parameters())
    frozen = params_of(trainer.critic)
    m2 = trainer.step()
    assert same_params(frozen, params_of(trainer.critic))
    assert not same_params(policy_before, params_of(model))
    for m in (m1, m2):
        for key in ("reward_mean", "pass_rate", "loss", "pg_loss", "ce_loss", "kl", "grad_norm"):
            assert key in m and math.isfinite(m[key]), key
        assert 0 < m["token_weight_mean"] < 1 and m["ce_loss"] > 0
    assert "critic_pretrain_samples" not in m2


def test_ce_mixing_changes_the_loss(tiny_path, reward, tmp_path):
    _, tok = load_model(str(tiny_path))
    batch = labelled_batch(tok)
    adv = torch.tensor([1.0, -1.0, -0.5, 0.5])
    results = {}
    for mix in (0.0, 1.0):
        model, _ = load_model(str(tiny_path))
        trainer = CodeRLTrainer(small_config(tmp_path, mix_ce=mix), model, tok, TASKS, reward)
        weights = torch.full((4, 64), 0.5)
        refs = trainer.reference_batch(batch)
        assert len(refs) == 1 and refs[0].completion.startswith("```python")
        results[mix] = trainer.update_policy(batch, adv, weights, refs)
    assert results[0.0]["pg_loss"] == pytest.approx(results[1.0]["pg_loss"], rel=1e-5)
    assert results[1.0]["loss"] == pytest.approx(results[1.0]["pg_loss"] + results[1.0]["ce_loss"], rel=1e-5)
    assert results[1.0]["ce_loss"] > 0 and results[0.0]["loss"] != results[1.0]["loss"]


def test_micro_batches_give_the_full_batch_update(tiny_path, reward, tmp_path):
    _, tok = load_model(str(tiny_path))
    batch = labelled_batch(tok)
    adv = torch.tensor([1.0, -1.0, -0.5, 0.5])
    weights = torch.linspace(0.1, 0.9, 4 * 64).reshape(4, 64)
    results, params = {}, {}
    for accumulation in (1, 3):
        model, _ = load_model(str(tiny_path))
        config = small_config(tmp_path, grad_accumulation=accumulation, max_grad_norm=0.0)
        trainer = CodeRLTrainer(config, model, tok, TASKS, reward)
        results[accumulation] = trainer.update_policy(batch, adv, weights, trainer.reference_batch(batch))
        params[accumulation] = {n: p.detach().clone() for n, p in model.named_parameters()}
    for key in ("loss", "pg_loss", "ce_loss", "grad_norm"):
        assert results[3][key] == pytest.approx(results[1][key], rel=1e-4, abs=1e-6), key
    worst = max(float((params[1][n] - params[3][n]).abs().max()) for n in params[1])
    # grad_norm above pins the accumulated gradient; Adam's first step (~lr * sign) only has to agree closely
    assert worst < 1e-2 * config.learning_rate, worst


def test_resume_reproduces_the_next_step(tiny_path, reward, tmp_path):
    config = small_config(tmp_path)
    a = CodeRLTrainer(config, *load_model(str(tiny_path)), TASKS, reward)
    a.step()
    checkpoint = save_checkpoint(a, tmp_path / "ckpts" / "step-000001")
    expected = a.step()

    b = CodeRLTrainer(config, *load_model(str(tiny_path)), TASKS, reward)
    load_checkpoint(b, checkpoint)
    got = b.step()  # no second critic pretraining
    assert got == expected, {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert same_params(params_of(a.model), params_of(b.model))
    assert same_params(params_of(a.critic), params_of(b.critic))


def test_cli_coderl_run(tiny_path, tmp_path):
    runner = (
        "import sys\nfrom unitrl.cli import app, main, train\n"
        "if not any(c.name == 'train' for c in app.registered_commands):\n    train.register(app)\n"
        "sys.argv = ['unitrl', *sys.argv[1:]]\nmain()\n"
    )
    tasks = tmp_path / "tasks.jsonl"
    write_tasks(tasks, TASKS)
    out = tmp_path / "coderl"
    args = ["train", "--no-progress", "--threads", "1", "--algo", "coderl", "--model", str(tiny_path)]
    args += ["--tasks", str(tasks), "--out", str(out), "--steps", "1", "k=2", "prompts_per_step=2"]
    args += ["max_new_tokens=6", "executor_workers=1", "critic_hidden=8", "critic_epochs=3"]
    args += ["critic_pretrain_batches=1"]
    proc = subprocess.run([sys.executable, "-c", runner, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1.0] and "ce_loss" in rows[0]
    assert json.loads((out / "run.json").read_text())["algo"] == "coderl"
    load_model(str(out / "policy"))


def test_lora_reads_features_from_the_base(tiny_path, reward, tmp_path):
    pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")
    from unitrl.rl.lora import LoraSettings, apply_lora

    model, tok = load_model(str(tiny_path))
    wrapped = apply_lora(model, LoraSettings(r=4, alpha=8))
    base_before = {n: p.detach().clone() for n, p in wrapped.named_parameters() if not p.requires_grad}
    trainer = CodeRLTrainer(small_config(tmp_path, k=2), wrapped, tok, TASKS, reward)
    assert trainer.feature_model is None and trainer.features_from_base  # no copy of the model
    m = trainer.step()
    assert math.isfinite(m["loss"]) and m["grad_norm"] > 0
    after = dict(wrapped.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in base_before.items())
