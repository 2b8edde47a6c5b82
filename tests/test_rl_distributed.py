"""Data-parallel training (``unitrl.rl.distributed``): two CPU processes under ``torchrun``.

What must hold: every process applies the same updates (the run checks weight checksums at each checkpoint
and fails if they differ), the main process alone logs one line per step with the whole step's counts,
every process's samples reach the shared replay buffer, and resuming from a checkpoint reproduces the
uninterrupted run exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from tests.rl_support import SMALL_RUN as SMALL  # noqa: E402
from unitrl.errors import UnitrlError  # noqa: E402
from unitrl.models import build_tiny_model  # noqa: E402
from unitrl.rl.distributed import DataParallel, refuse_sharding  # noqa: E402
from unitrl.tasks import Task, write_tasks  # noqa: E402

TASKS = [
    Task("toy/add", "Write a function add(a, b) that returns a + b.", "add", ["assert add(1, 2) == 3"]),
    Task("toy/neg", "Write a function neg(x) that returns -x.", "neg", ["assert neg(1) == -1"]),
    Task("toy/sq", "Write a function sq(x) that returns x * x.", "sq", ["assert sq(3) == 9"]),
    Task("toy/inc", "Write a function inc(x) that returns x + 1.", "inc", ["assert inc(1) == 2"]),
]


def test_a_single_process_passes_everything_through():
    dp = DataParallel()
    assert (dp.world_size, dp.rank, dp.is_main) == (1, 0, True)
    assert dp.shard([1, 2, 3]) == [1, 2, 3] and dp.gather([4, 5]) == [4, 5]
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    dp.average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    assert dp.combine_metrics({"a": 1.0, "n": 4.0}, summed={"n"}) == {"a": 1.0, "n": 4.0}
    dp.check_in_sync([p])
    dp.wait()


class TwoIdenticalProcesses:
    """Stands in for an accelerator of 2 processes whose other process holds exactly what this one does."""

    num_processes, process_index, device = 2, 1, "cpu"

    def reduce(self, tensor, reduction):
        return tensor * 2 if reduction == "sum" else tensor


def test_step_metrics_sum_counts_and_average_the_rest(monkeypatch):
    dp = DataParallel(TwoIdenticalProcesses())
    monkeypatch.setattr(dp, "gather", lambda items: [items[0], items[0]])
    assert (dp.rank, dp.is_main, dp.shard([0, 1, 2, 3])) == (1, False, [1, 3])
    combined = dp.combine_metrics({"reward_mean": 0.5, "n_fresh": 8.0}, summed={"n_fresh"})
    assert combined == {"reward_mean": 0.5, "n_fresh": 16.0}


def test_diverged_processes_are_stopped(monkeypatch):
    dp = DataParallel(TwoIdenticalProcesses())
    weights = [torch.nn.Parameter(torch.ones(4))]
    monkeypatch.setattr(dp, "gather", lambda items: [items[0], items[0]])
    dp.check_in_sync(weights)  # the same checksums: fine
    monkeypatch.setattr(dp, "gather", lambda items: [items[0], items[0] + 1e-3])
    with pytest.raises(UnitrlError, match="policy weights diverged"):
        dp.check_in_sync(weights)
    monkeypatch.setattr(dp, "gather", lambda items: [("loss",), ("loss", "kl")])
    with pytest.raises(UnitrlError, match="different metrics"):
        dp.combine_metrics({"loss": 1.0})


def test_sharded_launches_are_refused_with_a_one_line_error():
    from accelerate.utils import DistributedType

    class Launched:
        def __init__(self, mode):
            self.distributed_type = mode

    for mode in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        with pytest.raises(UnitrlError, match=f"asks for {mode.value}.*data-parallel only") as err:
            refuse_sharding(Launched(mode))
        assert "\n" not in str(err.value)
    for mode in (DistributedType.NO, DistributedType.MULTI_GPU, DistributedType.MULTI_CPU):
        refuse_sharding(Launched(mode))  # what unitrl does support


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dp")
    model = build_tiny_model(root / "tiny", chat=True)
    tasks = root / "tasks.jsonl"
    write_tasks(tasks, TASKS)
    return model, tasks


def launch(processes: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``torchrun`` with CPU processes (gloo); ``accelerate launch --multi_gpu`` does the same on GPUs."""
    # --standalone: a rendezvous on a free port each time (a fixed port could still be held by the previous
    # launch's store, failing the next one at random)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    cmd += ["-m", "unitrl", "train", "--no-progress", "--threads", "1", "--device", "cpu", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_share_the_batch_the_buffer_and_the_updates(setup, tmp_path):
    model, tasks = setup
    out = tmp_path / "ac"
    args = ["--algo", "actor-critic", "--model", str(model), "--tasks", str(tasks), *SMALL]
    proc = launch(2, *args, "critic_hidden=8", "replay_mix=0.5", "steps=2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes" in proc.stderr
    logged = rows(out)
    assert [r["step"] for r in logged] == [1.0, 2.0]  # one line per step: only the main process writes
    assert [r["n_fresh"] for r in logged] == [4.0, 4.0]  # 2 prompts x 2 samples, summed over processes
    assert logged[1]["n_replayed"] == 4.0  # 1 replayed per fresh sample on each process (replay_mix 0.5)
    buffer = json.loads((out / "checkpoints" / "step-000001" / "buffer.json").read_text())
    # both processes' prompts (one each) reached the buffer that every process keeps
    assert len({task_id for task_id, _ in buffer["groups"]}) == 2, buffer
    assert (out / "policy" / "config.json").is_file()  # exported once, by the main process


@pytest.mark.slow
def test_two_process_resume_reproduces_the_uninterrupted_run(setup, tmp_path):
    model, tasks = setup
    # actor-critic: its critic's baseline makes every step move the policy (toy rewards are all alike), and
    # the critic, the replay buffer and the replayed samples must resume too
    args = ["--algo", "actor-critic", "--model", str(model), "--tasks", str(tasks), *SMALL, "critic_hidden=8"]
    args += ["replay_mix=0.5"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for steps, out in (("steps=2", straight), ("steps=1", resumed)):
        proc = launch(2, *args, steps, "--out", str(out))
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = launch(2, *args, "steps=2", "--resume", "--out", str(resumed))
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = {
        d.name: [(r["reward_mean"], r["loss"], r["grad_norm"]) for r in rows(d)] for d in (straight, resumed)
    }
    assert seen["straight"] == seen["resumed"], seen  # the same samples, rewards and losses at every step
    for step in ("step-000001", "step-000002"):
        a = torch.load(straight / "checkpoints" / step / "policy.pt", weights_only=True)
        b = torch.load(resumed / "checkpoints" / step / "policy.pt", weights_only=True)
        differ = [k for k in a if not torch.equal(a[k], b[k])]
        assert a.keys() == b.keys() and not differ, (step, differ[:3])
    first = torch.load(straight / "checkpoints" / "step-000001" / "policy.pt", weights_only=True)
    assert any(not torch.equal(first[k], a[k]) for k in a)  # step 2 did change the policy


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "coderl"])
def test_value_head_and_critic_updates_stay_in_sync(setup, tmp_path, algo):
    """PPO's value head and CodeRL's critic have optimisers of their own: their gradients are averaged too
    (the checksum check at the checkpoint would stop a run whose processes diverged)."""
    model, tasks = setup
    extra = ["critic_pretrain_batches=1", "critic_epochs=2"] if algo == "coderl" else []
    proc = launch(
        2,
        "--algo",
        algo,
        "--model",
        str(model),
        "--tasks",
        str(tasks),
        *SMALL,
        *extra,
        "steps=1",
        "--out",
        str(tmp_path / algo),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["n_fresh"] for r in rows(tmp_path / algo)] == [4.0]


@pytest.mark.slow
def test_prompts_must_split_evenly_between_processes(setup, tmp_path):
    model, tasks = setup
    proc = launch(
        2,
        "--algo",
        "grpo",
        "--model",
        str(model),
        "--tasks",
        str(tasks),
        *SMALL,
        "prompts_per_step=3",
        "--out",
        str(tmp_path / "odd"),
    )
    assert proc.returncode != 0
    # each process stops with the one-line error (the launcher then reports the failed processes)
    assert (
        "unitrl: error: prompts_per_step (3) must be a multiple of the number of processes (2)" in proc.stderr
    )
