"""``unitrl train`` end to end on a tiny random model: metrics, checkpoints, resume, the exported policy.

Runs the command in a subprocess through ``unitrl.cli.main`` (one-line errors, exit status 2).  The runner
registers ``train`` itself when the CLI does not list it yet, so these tests do not depend on that wiring.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from tests.rl_support import SMALL_RUN
from unitrl.errors import UnitrlError
from unitrl.models import build_tiny_model, load_model
from unitrl.rl.logging import RunLogger, truncate_metrics
from unitrl.tasks import Task, write_tasks

RUNNER = """
import sys
from unitrl.cli import app, main, train
if not any(c.name == "train" for c in app.registered_commands):
    train.register(app)
sys.argv = ["unitrl", *sys.argv[1:]]
main()
"""

TASKS = [
    Task("toy/add", "Write a function add(a, b) that returns a + b.", "add", ["assert add(1, 2) == 3"]),
    Task("toy/neg", "Write a function neg(x) that returns -x.", "neg", ["assert neg(1) == -1"]),
]

SMALL = SMALL_RUN


def unitrl_train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "train", "--no-progress", "--threads", "1", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    model = build_tiny_model(root / "tiny", chat=True)
    tasks = root / "tasks.jsonl"
    write_tasks(tasks, TASKS)
    return model, tasks


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_actor_critic_run_resume_and_policy(setup, tmp_path):
    model, tasks = setup
    out = tmp_path / "ac"
    args = ["--algo", "actor-critic", "--model", str(model), "--tasks", str(tasks), *SMALL, "critic_hidden=8"]
    proc = unitrl_train(*args, "steps=1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [r["step"] for r in rows(out)] == [1.0]
    assert all({"reward_mean", "pass_rate", "loss", "kl", "critic_loss"} <= set(r) for r in rows(out))
    assert (out / "checkpoints" / "step-000001").is_dir()
    assert json.loads((out / "run.json").read_text())["algo"] == "actor-critic"
    assert json.loads((out / "config.json").read_text())["critic_hidden"] == 8
    assert "step 1/1" in proc.stderr and "policy saved to" in proc.stderr
    assert list((out / "tb").iterdir())  # TensorBoard events (tensorboard is installed in the dev env)

    policy, tok = load_model(str(out / "policy"))  # what `unitrl eval --model OUT/policy` loads
    assert policy.config.hidden_size == 64 and tok.eos_token

    # the same directory again without --resume is refused; with --resume it continues at step 2
    again = unitrl_train(*args, "steps=1", "--out", str(out))
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0
    assert "already holds a run; pass --resume" in again.stderr
    resumed = unitrl_train(*args, "--steps", "2", "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr and "step-000001" in resumed.stderr
    assert [r["step"] for r in rows(out)] == [1.0, 2.0]
    assert (out / "checkpoints" / "step-000002").is_dir()
    assert json.loads((out / "config.json").read_text())["steps"] == 2


def test_grpo_with_lora_from_a_yaml_config(setup, tmp_path):
    pytest.importorskip("peft", reason="peft is not installed (pip install peft): LoRA is optional")
    model, tasks = setup
    out = tmp_path / "grpo"
    config = tmp_path / "run.yaml"
    config.write_text(
        f"algo: grpo\nmodel: {model}\ntasks: [{tasks}]\nsteps: 1\nlora_r: 4\nlora_alpha: 8\n"
        + "".join(f"{item.replace('=', ': ', 1)}\n" for item in SMALL)
    )
    proc = unitrl_train("--config", str(config), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "LoRA r=4" in proc.stderr
    assert json.loads((out / "config.json").read_text())["baseline"] == "group"
    assert json.loads((out / "run.json").read_text())["lora"]["r"] == 4
    assert len(rows(out)) == 1
    policy, _ = load_model(str(out / "policy"))  # merged: a plain checkpoint, no adapter files needed
    assert not any("lora" in name for name, _ in policy.named_parameters())

    # resuming with other LoRA settings is refused in one line
    bad = unitrl_train("--config", str(config), "--out", str(out), "--resume", "lora_r=8")
    assert bad.returncode == 2 and "other settings: lora=" in bad.stderr
    assert bad.stderr.strip().count("\n") == 0


def test_bad_input_exits_2_with_one_line(setup, tmp_path):
    model, _ = setup
    proc = unitrl_train("--model", str(model), "--out", str(tmp_path / "x"), "--algo", "dpo")
    assert proc.returncode == 2, proc.stderr
    assert "unknown algorithm 'dpo'" in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "rloo", "kl_coeff=1"], "did you mean 'kl_coef'"),
        (["--algo", "grpo", "k=1"], "k must be >= 2"),
        (["--algo", "grpo", "scale_rewards=maybe"], "scale_rewards must be one of"),
        (["lora_r=-1"], "lora_r must be >= 0"),
        (["k"], "must look like key=value"),
        (["--config", "missing.yaml"], "no such config file"),
        (["--tasks", "nope:train"], "unknown benchmark 'nope'"),
    ],
)
def test_bad_input_is_a_unitrl_error(setup, tmp_path, args, message):
    """In-process (fast): every mistake is a UnitrlError, which ``main`` prints as one line."""
    import typer
    from typer.testing import CliRunner

    from unitrl.cli import train
    from unitrl.errors import UnitrlError

    app = typer.Typer()
    train.register(app)
    app.command("noop")(lambda: None)  # two commands, so "train" is a subcommand as in the real CLI
    model, _ = setup
    result = CliRunner().invoke(app, ["train", "--model", str(model), "--out", str(tmp_path / "x"), *args])
    assert isinstance(result.exception, UnitrlError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_print_config_lists_every_key(tmp_path):
    import typer
    from typer.testing import CliRunner

    from unitrl.cli import train

    app = typer.Typer()
    train.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["train", "--algo", "rloo", "--print-config", "k=6", "lora_r=2"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)
    assert settings["algo"] == "rloo" and settings["baseline"] == "loo" and settings["k"] == 6
    assert settings["lora_r"] == 2 and "lora_target_modules" in settings


def test_truncate_metrics_and_logger(tmp_path):
    with RunLogger(tmp_path, tensorboard=False) as logger:
        for step in (1, 2, 3):
            logger.log({"step": float(step), "loss": 0.5})
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 4, "lo')  # a line cut by a kill
    assert truncate_metrics(tmp_path / "metrics.jsonl", 2) == 2
    assert [r["step"] for r in rows(tmp_path)] == [1.0, 2.0]


def test_wandb_logging_offline_and_resumed_into_the_same_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    with RunLogger(tmp_path, tensorboard=False, wandb_project="unitrl-test", wandb_config={"k": 4}) as logger:
        logger.log({"step": 1.0, "loss": 0.5, "reward_mean": float("nan")})
    run_id = (tmp_path / "wandb_run_id").read_text().strip()
    runs = list((tmp_path / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 1 and list(runs[0].glob(f"run-{run_id}.wandb"))
    with RunLogger(tmp_path, tensorboard=False, wandb_project="unitrl-test", resume_step=1) as logger:
        logger.log({"step": 2.0, "loss": 0.4})
    assert (
        tmp_path / "wandb_run_id"
    ).read_text().strip() == run_id  # the resumed run logs to the same W&B run
    assert [r["step"] for r in rows(tmp_path)] == [1.0, 2.0]


def test_wandb_missing_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(UnitrlError, match="pip install wandb"):
        RunLogger(tmp_path, tensorboard=False, wandb_project="p")
