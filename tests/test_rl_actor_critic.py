"""Actor-critic mechanics on a tiny random Qwen2: config parsing, rollouts, the loss, the critic, checkpoints.

Random weights almost never write a passing program, so end-to-end rewards are mostly the same value; the
loss and critic tests therefore also use rollouts built by hand with chosen rewards.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from tests.rl_support import params_of, same_params  # noqa: E402
from unitrl.errors import UnitrlError  # noqa: E402
from unitrl.execution import ExecutionConfig, Executor  # noqa: E402
from unitrl.models import build_tiny_model, load_model  # noqa: E402
from unitrl.rewards import ExecutionReward  # noqa: E402
from unitrl.rl.actor_critic import ActorCriticTrainer, completion_logprobs  # noqa: E402
from unitrl.rl.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from unitrl.rl.config import ActorCriticConfig, parse_overrides  # noqa: E402
from unitrl.rl.critic import policy_features  # noqa: E402
from unitrl.rl.loop import EVALS_FILE, read_evals  # noqa: E402
from unitrl.rl.rollout import Rollout, collect_rollouts  # noqa: E402
from unitrl.tasks import Task, write_tasks  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TASKS = [
    Task(
        "toy/add",
        "Write a function add(a, b) that returns the sum of a and b.",
        "add",
        ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
        reference="def add(a, b):\n    return a + b\n",
    ),
    Task(
        "toy/neg",
        "Write a function neg(x) that returns -x.",
        "neg",
        ["assert neg(1) == -1"],
        reference="def neg(x):\n    return -x\n",
    ),
    Task(
        "toy/even",
        "Write a function is_even(n) that says whether n is even.",
        "is_even",
        ["assert is_even(4) is True", "assert is_even(3) is False"],
        reference="def is_even(n):\n    return n % 2 == 0\n",
    ),
]


@pytest.fixture
def policy(tiny_path):
    """A fresh copy of the tiny model for each test (training changes it in place)."""
    return load_model(str(tiny_path))


@pytest.fixture(scope="module")
def reward():
    with Executor(ExecutionConfig(workers=1, timeout=30.0, test_timeout=2.0)) as ex:
        # coderl gives -1 for the syntax errors random weights write, so rewards are non-zero
        yield ExecutionReward(ex, {t.task_id: t for t in TASKS}, reward="coderl")


def small_config(tmp_path, **overrides) -> ActorCriticConfig:
    base = {
        "k": 2,
        "prompts_per_step": 2,
        "max_new_tokens": 12,
        "learning_rate": 1e-3,
        "critic_learning_rate": 1e-2,
        "critic_hidden": 16,
        "reward": "coderl",
        "out": str(tmp_path / "run"),
    }
    base.update(overrides)
    return ActorCriticConfig.from_dict(base)


def hand_rollouts(tokenizer, rewards: list[float], asks: list[str] | None = None) -> list[Rollout]:
    """Rollouts with distinct completions of different lengths and the given rewards (nothing executed),
    all of one prompt ("Write add.") or of the prompt ``asks[i]`` each."""
    bodies = [
        "def add(a, b):\n    return a + b",
        "x = 1",
        "print(3)\nprint(4)\nprint(5)",
        "class Stack:",
        "ok",
    ]
    out = []
    for i, r in enumerate(rewards):
        ask = asks[i] if asks else "Write add."
        prompt = f"<|im_start|>user\n{ask}<|im_end|>\n<|im_start|>assistant\n"
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        text = bodies[i % len(bodies)] + "\n" * (i // len(bodies))
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        out.append(Rollout("toy/add", prompt, prompt_ids, ids, text, text, r))
    return out


def zero_critic(trainer: ActorCriticTrainer) -> None:
    """Make the critic predict 0 everywhere, so advantage == reward."""
    with torch.no_grad():
        last = trainer.critic.net[-1]
        last.weight.zero_()
        last.bias.zero_()


# --- config ----------------------------------------------------------------------------------------------


def test_config_round_trip_and_overrides():
    config = ActorCriticConfig()
    assert ActorCriticConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    parsed = parse_overrides(
        ["k=8", "kl_coef=0.05", "critic_frozen=true", "executor_workers=none", "reward=coderl", "top_p = 0.9"]
    )
    assert parsed == {
        "k": 8,
        "kl_coef": 0.05,
        "critic_frozen": True,
        "executor_workers": None,
        "reward": "coderl",
        "top_p": 0.9,
    }
    assert type(parsed["k"]) is int and type(parsed["kl_coef"]) is float
    updated = config.with_overrides(["k=8", "replay_mix=0.25", "executor_workers=2"])
    assert (updated.k, updated.replay_mix, updated.executor_workers) == (8, 0.25, 2)
    assert config.k == 4  # the original is untouched


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("kl_coeff=0.1", "unknown config key 'kl_coeff'; did you mean 'kl_coef'"),
        ("k=abc", "k must be int"),
        ("k=2.5", "k must be int"),
        ("critic_frozen=maybe", "critic_frozen must be bool"),
        ("k=none", "k cannot be none"),
        ("replay_mix=1", r"replay_mix must be in \[0, 1\)"),
        ("k=0", "k must be >= 1"),
        ("reward=nope", "unknown reward 'nope'"),
        ("learning_rate=-1", "learning_rate must be a positive number"),
        ("k", "must look like key=value"),
    ],
)
def test_config_rejects_bad_overrides(override, match):
    with pytest.raises(UnitrlError, match=match) as e:
        ActorCriticConfig().with_overrides([override])
    assert "\n" not in str(e.value)


def test_config_from_dict_rejects_unknown_keys():
    with pytest.raises(UnitrlError, match="unknown config key 'nope'"):
        ActorCriticConfig.from_dict({"nope": 1})


# --- rollouts and log-probs ------------------------------------------------------------------------------


def test_collect_rollouts(policy, reward):
    model, tok = policy
    rollouts = collect_rollouts(model, tok, TASKS[:2], reward, k=3, temperature=1.0, max_new_tokens=8, seed=1)
    assert [r.task_id for r in rollouts] == ["toy/add"] * 3 + ["toy/neg"] * 3  # task-major
    for r in rollouts:
        assert (
            r.prompt.startswith("<|im_start|>")
            and r.prompt_token_ids == tok(r.prompt, add_special_tokens=False)["input_ids"]
        )
        assert 1 <= len(r.completion_token_ids) <= 8
        assert r.result is not None and r.reward == reward.reward(r.result)
    assert [r.program for r in rollouts] == reward.last_programs
    again = collect_rollouts(model, tok, TASKS[:2], reward, k=3, temperature=1.0, max_new_tokens=8, seed=1)
    assert [r.completion_token_ids for r in again] == [r.completion_token_ids for r in rollouts]


def test_overlapped_execution_gives_the_same_rollouts(policy):
    """Programs of one generation batch run while the next generates; every rollout keeps its own reward."""
    from tests.rl_support import TOY_TASKS, varied_extract
    from unitrl.rl.rollout import RolloutTimings

    model, tok = policy
    with Executor(ExecutionConfig(workers=2, timeout=30.0)) as ex:
        varied = ExecutionReward(
            ex, {t.task_id: t for t in TOY_TASKS}, extract=varied_extract, reward="pass_all"
        )
        runs = {}
        for overlap in (True, False):
            timings = RolloutTimings()
            runs[overlap] = collect_rollouts(
                model,
                tok,
                TOY_TASKS,
                varied,
                k=3,
                temperature=1.0,
                max_new_tokens=8,
                batch_size=2,
                seed=3,
                timings=timings,
                overlap=overlap,
            )
            assert timings.programs == 6 and timings.execution_seconds > 0
            assert timings.metrics()["exec_wait_s"] >= 0
    a, b = runs[True], runs[False]
    assert [r.task_id for r in a] == ["toy/add"] * 3 + ["toy/neg"] * 3  # task-major, as without overlap
    key = [(r.task_id, r.completion_token_ids, r.program, r.reward, r.result.outcome) for r in a]
    assert key == [(r.task_id, r.completion_token_ids, r.program, r.reward, r.result.outcome) for r in b]
    assert len({r.reward for r in a}) == 2  # both outcomes occur, so a reward on the wrong sample would show
    for r in a:  # each reward belongs to its own sample's program
        assert r.reward == (1.0 if len(r.completion) % 2 == 0 else 0.0)


def test_collect_rollouts_plain_model_and_reward_side_extraction(tmp_path, reward):
    """A completion-format model works too; a reward with its own ``extract`` gets the raw text."""
    model, tok = load_model(str(build_tiny_model(tmp_path / "plain", chat=False)))
    seen: list[str] = []

    def extract(completion: str, task: Task) -> str:
        seen.append(completion)
        return task.reference

    own = ExecutionReward(reward.executor, reward.tasks, extract=extract, reward="pass_all")
    rollouts = collect_rollouts(model, tok, TASKS, own, k=1, temperature=0.0, max_new_tokens=6)
    assert seen == [r.completion for r in rollouts]
    assert [r.program for r in rollouts] == [t.reference for t in TASKS]
    assert [r.reward for r in rollouts] == [1.0, 1.0, 1.0]  # the references pass
    assert all(r.prompt.startswith('"""') for r in rollouts)


def test_completion_logprobs_ignore_padding(policy):
    """Batched (right-padded) log-probs equal each rollout's log-probs computed alone."""
    model, tok = policy
    rollouts = hand_rollouts(tok, [0.0, 0.0, 0.0])
    with torch.no_grad():
        logp, mask, features = completion_logprobs(model, rollouts, tok.pad_token_id, with_features=True)
        assert features is not None and features.shape == (3, model.config.hidden_size)
        for i, r in enumerate(rollouts):
            assert int(mask[i].sum()) == len(r.completion_token_ids)
            alone, alone_mask, _ = completion_logprobs(model, [r], tok.pad_token_id)
            batched = (logp[i] * mask[i]).sum()
            assert torch.allclose(batched, (alone * alone_mask).sum(), atol=1e-4)
            # the same number from the logits directly
            ids = torch.tensor([r.prompt_token_ids + r.completion_token_ids])
            lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            p = len(r.prompt_token_ids)
            manual = sum(lp[p - 1 + j, t] for j, t in enumerate(r.completion_token_ids))
            assert torch.allclose(batched, manual, atol=1e-4)


# --- the loss ---------------------------------------------------------------------------------------------


def test_positive_advantage_raises_log_prob_and_zero_advantage_changes_nothing(policy, reward, tmp_path):
    model, tok = policy
    trainer = ActorCriticTrainer(small_config(tmp_path, learning_rate=1e-2), model, tok, TASKS, reward)
    zero_critic(trainer)
    before = params_of(model)
    metrics, _ = trainer.update_policy(hand_rollouts(tok, [0.0, 0.0]), torch.zeros(2))
    assert metrics["loss"] == 0.0 and same_params(before, params_of(model))  # Adam with zero gradient

    good = hand_rollouts(tok, [1.0])
    with torch.no_grad():
        lp, m, _ = completion_logprobs(model, good, tok.pad_token_id)
        old = float((lp * m).sum())
    metrics, _ = trainer.update_policy(good, torch.tensor([1.0]))
    assert metrics["loss"] == pytest.approx(-old, rel=1e-4)  # -advantage * log p with advantage 1
    with torch.no_grad():
        lp, m, _ = completion_logprobs(model, good, tok.pad_token_id)
        assert float((lp * m).sum()) > old


def test_grad_accumulation_gives_the_same_update(tiny_path, reward, tmp_path):
    results = []
    for accumulation in (1, 3):
        model, tok = load_model(str(tiny_path))
        trainer = ActorCriticTrainer(
            small_config(tmp_path, grad_accumulation=accumulation), model, tok, TASKS, reward
        )
        # plain SGD: Adam's first step is ~lr * sign(grad), which magnifies float noise in tiny gradients
        trainer.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        rollouts = hand_rollouts(tok, [1.0, -1.0, 0.5, 0.0, -0.3])
        metrics, features = trainer.update_policy(rollouts, torch.tensor([r.reward for r in rollouts]))
        assert features.shape[0] == 5
        results.append((metrics["loss"], params_of(model)))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-4, abs=1e-5)
    for k, v in results[0][1].items():
        assert torch.allclose(v, results[1][1][k], atol=1e-6), k


# --- the critic -------------------------------------------------------------------------------------------


ASKS = ["Write add.", "Write a stack class.", "Print 3, 4, 5.", "Reverse a list.", "Sort it.", "Say ok."]


@pytest.mark.parametrize("critic_input", ["prompt", "prompt+completion"])
def test_critic_error_falls_on_a_fixed_reward_signal(policy, reward, tmp_path, critic_input):
    """A reward fixed per prompt (six prompts) for the default critic, per program for the other."""
    model, tok = policy
    config = small_config(tmp_path, critic_input=critic_input)
    trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
    asks = ASKS if critic_input == "prompt" else None
    rollouts = hand_rollouts(tok, [1.5, 0.0, -1.0, 0.25, -0.6, 1.0], asks)
    policy_before = params_of(model)
    history = trainer.pretrain_critic(rollouts, epochs=150)
    assert history[-1]["critic_error"] < 0.5 * history[0]["critic_error"]
    assert history[-1]["critic_loss"] < history[0]["critic_loss"]
    assert same_params(policy_before, params_of(model))  # the critic's training never touches the policy


def test_the_default_critic_reads_only_the_prompt_so_its_baseline_is_unbiased(policy, reward, tmp_path):
    """Features of one prompt are the same whatever was sampled, so the critic can only learn the prompt's
    mean reward: the advantages of its samples then sum to ~0 (a state-value baseline).  The critic that
    reads the program instead fits each program's own reward and drives every advantage towards 0."""
    model, tok = policy
    rollouts = hand_rollouts(tok, [1.0, 0.0, 1.0, 0.0, 0.5])
    rewards = torch.tensor([r.reward for r in rollouts])
    advantages = {}
    for critic_input in ("prompt", "prompt+completion"):
        config = small_config(tmp_path, critic_input=critic_input)
        trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
        with torch.no_grad():
            _, _, features = completion_logprobs(
                model, rollouts, tok.pad_token_id, with_features=True, critic_input=critic_input
            )
        assert features is not None
        if critic_input == "prompt":
            assert torch.allclose(features, features[0].expand_as(features), atol=1e-5)
            alone = policy_features(model, [list(rollouts[0].prompt_token_ids)], tok.pad_token_id)
            assert torch.allclose(features[0], alone[0], atol=1e-5)  # what its pretraining reads
        else:
            assert not torch.allclose(features[0], features[1], atol=1e-3)
        trainer.pretrain_critic(rollouts, epochs=300)
        with torch.no_grad():
            advantages[critic_input] = rewards - trainer.critic(features)
    assert abs(float(advantages["prompt"].sum())) < 0.05  # the baseline is the mean reward, 0.5
    assert torch.allclose(advantages["prompt"], rewards - 0.5, atol=0.02)
    assert float(advantages["prompt+completion"].abs().mean()) < 0.5 * float(
        advantages["prompt"].abs().mean()
    )


def test_critic_input_is_checked(tmp_path):
    with pytest.raises(UnitrlError, match="critic_input must be one of prompt, prompt\\+completion, got 'x'"):
        small_config(tmp_path, critic_input="x")


def test_policy_features_are_batch_independent_and_skip_the_vocabulary_head(policy, reward, tmp_path):
    """Features in small batches equal one full forward pass, and the head only ever sees one position."""
    from unitrl.rl.critic import mean_pool, pad_sequences, policy_features

    model, tok = policy
    rollouts = hand_rollouts(tok, [0.0] * 7)
    sequences = [list(r.prompt_token_ids) + list(r.completion_token_ids) for r in rollouts]
    assert len({len(s) for s in sequences}) > 2  # different lengths, so batches are padded differently
    head_positions = []
    hook = model.get_output_embeddings().register_forward_hook(
        lambda _m, _i, out: head_positions.append(out.shape[1])
    )
    try:
        features = policy_features(model, sequences, trainer_pad(tok), batch_size=3)
    finally:
        hook.remove()
    assert head_positions and set(head_positions) == {1}
    with torch.no_grad():
        ids, mask = pad_sequences(sequences, trainer_pad(tok))
        full = mean_pool(
            model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1], mask
        )
    assert features.shape == full.shape == (7, model.config.hidden_size)
    assert torch.allclose(features, full, atol=1e-5)
    assert policy_features(model, [], trainer_pad(tok)).shape == (0, model.config.hidden_size)


def test_a_non_finite_gradient_is_skipped_not_applied(policy, reward, tmp_path):
    model, tok = policy
    trainer = ActorCriticTrainer(small_config(tmp_path), model, tok, TASKS, reward)
    before = params_of(model)
    for p in trainer.trainable_parameters():
        p.grad = torch.ones_like(p)
    next(iter(trainer.trainable_parameters())).grad[0] = float("nan")
    trainer.skipped_updates = 0
    assert math.isnan(trainer.step_policy_optimizer())
    assert trainer.skipped_updates == 1
    assert same_params(before, params_of(model))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    for p in trainer.trainable_parameters():  # a finite gradient is applied as usual
        p.grad = torch.ones_like(p)
    skipped = trainer.skipped_updates
    trainer.step_policy_optimizer()
    assert trainer.skipped_updates == skipped and not same_params(before, params_of(model))


def trainer_pad(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


# --- whole steps ------------------------------------------------------------------------------------------


def test_steps_update_policy_critic_and_buffer(policy, reward, tmp_path):
    model, tok = policy
    config = small_config(tmp_path, replay_mix=0.5, kl_coef=0.1)
    trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
    policy_before, critic_before = params_of(model), params_of(trainer.critic)
    m1 = trainer.step()
    m2 = trainer.step()
    for m in (m1, m2):
        for key in ("reward_mean", "pass_rate", "loss", "critic_loss", "critic_error", "buffer_size", "kl"):
            assert key in m and torch.isfinite(torch.tensor(m[key])), key
    assert m1["n_fresh"] == 4 and m1["n_replayed"] == 0 and m2["n_replayed"] == 4
    assert m1["kl"] == pytest.approx(0.0, abs=1e-6) and m2["kl"] > 0  # policy == reference only at first
    assert 0 < m2["buffer_size"] <= 8 and trainer.step_count == 2
    assert not same_params(policy_before, params_of(model))
    assert not same_params(critic_before, params_of(trainer.critic))
    assert trainer.reference is not None and same_params(policy_before, params_of(trainer.reference))


def test_frozen_critic_is_pretrained_then_never_updated(policy, reward, tmp_path):
    model, tok = policy
    config = small_config(tmp_path, critic_frozen=True, critic_pretrain_batches=1, critic_pretrain_epochs=5)
    trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
    critic_init = params_of(trainer.critic)
    first = trainer.step()  # pretrains on one batch of the initial policy, then one policy step
    assert first["critic_pretrain_samples"] == config.prompts_per_step * config.k
    assert first["critic_pretrain_loss_last"] <= first["critic_pretrain_loss_first"]
    critic_pretrained = params_of(trainer.critic)
    assert not same_params(critic_init, critic_pretrained)
    policy_before = params_of(model)
    metrics = trainer.step()
    assert "critic_pretrain_samples" not in metrics  # only in step 1
    assert torch.isfinite(torch.tensor(metrics["critic_error"]))
    assert same_params(critic_pretrained, params_of(trainer.critic))
    assert not same_params(policy_before, params_of(model))


def test_frozen_critic_without_pretraining_is_refused(tmp_path):
    with pytest.raises(UnitrlError, match="critic_pretrain_batches"):
        small_config(tmp_path, critic_frozen=True).validate()


# --- checkpoints ------------------------------------------------------------------------------------------


def test_resume_reproduces_the_next_step(tiny_path, reward, tmp_path):
    config = small_config(tmp_path, replay_mix=0.5, kl_coef=0.05)
    model, tok = load_model(str(tiny_path))
    a = ActorCriticTrainer(config, model, tok, TASKS, reward)
    a.step()
    checkpoint = save_checkpoint(a, tmp_path / "ckpt")
    buffer_after_one = a.buffer.state_dict()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp dirs left
    expected = a.step()

    model_b, tok_b = load_model(str(tiny_path))
    b = ActorCriticTrainer(config, model_b, tok_b, TASKS, reward)
    load_checkpoint(b, checkpoint)
    assert b.step_count == 1 and b.buffer.state_dict() == buffer_after_one
    got = b.step()
    assert got == expected
    assert same_params(params_of(a.model), params_of(b.model))
    assert same_params(params_of(a.critic), params_of(b.critic))
    assert a.buffer.state_dict() == b.buffer.state_dict()

    # overwriting a checkpoint is atomic too, and other settings are refused on resume
    save_checkpoint(b, checkpoint)
    other = ActorCriticTrainer(small_config(tmp_path, k=3), *load_model(str(tiny_path)), TASKS, reward)
    with pytest.raises(UnitrlError, match="other settings: k=2"):
        load_checkpoint(other, checkpoint)
    with pytest.raises(UnitrlError, match="not a complete checkpoint"):
        load_checkpoint(other, tmp_path)

    # a checkpoint written before a setting existed resumes when the setting is at its default...
    meta = json.loads((checkpoint / "trainer.json").read_text())
    del meta["config"]["eval_limit"], meta["config"]["overlap_execution"]
    (checkpoint / "trainer.json").write_text(json.dumps(meta))
    load_checkpoint(ActorCriticTrainer(config, *load_model(str(tiny_path)), TASKS, reward), checkpoint)
    # ...and not when this run sets it otherwise; throughput-only settings may always differ
    changed = small_config(tmp_path, replay_mix=0.5, kl_coef=0.05, eval_limit=3, overlap_execution=False)
    with pytest.raises(UnitrlError, match=r"other settings: eval_limit=0 \(now 3\)"):
        load_checkpoint(ActorCriticTrainer(changed, *load_model(str(tiny_path)), TASKS, reward), checkpoint)
    # a checkpoint from before critic_input existed was made by a critic reading prompt + completion
    del meta["config"]["critic_input"]
    (checkpoint / "trainer.json").write_text(json.dumps(meta))
    with pytest.raises(UnitrlError, match=r"critic_input='prompt\+completion' \(now 'prompt'\)"):
        load_checkpoint(ActorCriticTrainer(config, *load_model(str(tiny_path)), TASKS, reward), checkpoint)
    as_before = small_config(tmp_path, replay_mix=0.5, kl_coef=0.05, critic_input="prompt+completion")
    load_checkpoint(ActorCriticTrainer(as_before, *load_model(str(tiny_path)), TASKS, reward), checkpoint)


def test_train_writes_metrics_and_checkpoints(policy, reward, tmp_path):
    model, tok = policy
    config = small_config(tmp_path, steps=2, checkpoint_every=1, max_new_tokens=6)
    trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
    seen = []
    history = trainer.train(on_step=seen.append)
    assert len(history) == 2 and seen == history
    assert [m["skipped_updates"] for m in history] == [0.0, 0.0]  # every update was finite and applied
    out = tmp_path / "run"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "config.json").read_text())["steps"] == 2
    assert latest_checkpoint(out / "checkpoints") == out / "checkpoints" / "step-000002"
    assert trainer.train() == []  # already done: nothing more to run


def test_train_logs_speed_and_heldout_evaluations(policy, reward, tmp_path):
    model, tok = policy
    heldout = [
        Task(
            "held/neg",
            "Write neg(x) returning -x.",
            "neg",
            ["assert neg(2) == -2"],
            reference="def neg(x):\n    return -x",
        ),
        Task(
            "held/sq",
            "Write sq(x) returning x*x.",
            "sq",
            ["assert sq(3) == 9"],
            reference="def sq(x):\n    return x * x",
        ),
    ]
    write_tasks(tmp_path / "heldout.jsonl", heldout)
    config = small_config(
        tmp_path,
        steps=3,
        eval_every=2,
        eval_tasks=str(tmp_path / "heldout.jsonl"),
        eval_split="",
        max_new_tokens=6,
    )
    trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
    history = trainer.train()
    assert all(m["tokens_per_s"] > 0 and m["exec_per_s"] > 0 and m["step_seconds"] > 0 for m in history)
    # before the first step, every eval_every steps, and at the end
    assert [("heldout_pass@1" in m) for m in history] == [False, True, True]
    evals = read_evals(tmp_path / "run" / EVALS_FILE)
    assert [e["step"] for e in evals] == [0, 2, 3]
    assert all(e["n_tasks"] == 2 and 0 <= e["passed"] <= 2 and e["pass@1"] == e["passed"] / 2 for e in evals)
    assert history[1]["heldout_pass@1"] == evals[1]["pass@1"]


def test_heldout_tasks_must_not_overlap_training_tasks(policy, reward, tmp_path):
    model, tok = policy
    write_tasks(tmp_path / "same.jsonl", TASKS)
    config = small_config(tmp_path, eval_every=1, eval_tasks=str(tmp_path / "same.jsonl"), eval_split="")
    trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
    with pytest.raises(UnitrlError, match="also training tasks"):
        trainer.train()


def test_evaluation_does_not_change_the_next_step(tiny_path, reward, tmp_path):
    write_tasks(
        tmp_path / "heldout.jsonl",
        [Task("held/one", "Write one() returning 1.", "one", ["assert one() == 1"])],
    )
    results = []
    for every in (0, 1):
        model, tok = load_model(str(tiny_path))
        config = small_config(
            tmp_path,
            steps=2,
            eval_every=every,
            eval_tasks=str(tmp_path / "heldout.jsonl"),
            eval_split="",
            out=str(tmp_path / f"run{every}"),
        )
        trainer = ActorCriticTrainer(config, model, tok, TASKS, reward)
        results.append(
            [{k: v for k, v in m.items() if k in ("reward_mean", "loss")} for m in trainer.train()]
        )
    assert results[0] == results[1]


def test_importing_unitrl_rl_does_not_import_torch():
    code = "import sys, unitrl.rl as r; r.ActorCriticConfig(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lora_policy_uses_its_base_as_the_kl_reference(tiny_path, reward, tmp_path):
    pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")
    from unitrl.rl.lora import LoraSettings, apply_lora

    model, tok = load_model(str(tiny_path))
    wrapped = apply_lora(model, LoraSettings(r=4, alpha=8))
    trainer = ActorCriticTrainer(small_config(tmp_path, kl_coef=0.1), wrapped, tok, TASKS, reward)
    assert trainer.reference is None and trainer.reference_is_base  # no second copy of the model
    first = trainer.step()
    assert first["kl"] == pytest.approx(0.0, abs=1e-6)  # lora_B starts at zero: the policy is its base
    assert all(p.requires_grad == ("lora_" in n) for n, p in wrapped.named_parameters())


def test_training_on_a_gpu_turns_off_cudnn_attention():
    """cuDNN's bf16 attention backward gives NaN gradients for some lengths (huggingface/trl#7181)."""
    from unitrl.rl.loop import avoid_cudnn_attention_backward

    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        avoid_cudnn_attention_backward(torch.device("cpu"))
        assert torch.backends.cuda.cudnn_sdp_enabled()  # nothing changes for CPU training
        avoid_cudnn_attention_backward(torch.device("cuda", 0))
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)
