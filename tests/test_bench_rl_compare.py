"""benchmarks/rl_compare.py's bookkeeping: append-only results, newest row wins, paired table (no model)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import ClassVar

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "rl_compare.py"
_spec = importlib.util.spec_from_file_location("rl_compare", _PATH)
assert _spec is not None and _spec.loader is not None
rl_compare = importlib.util.module_from_spec(_spec)
sys.modules["rl_compare"] = rl_compare  # dataclasses look their module up
_spec.loader.exec_module(rl_compare)


def result(
    row: str, seed: int, mbpp: list[int], he: list[int], programs: int = 0, finished: str = "t"
) -> dict:
    def bench(values: list[int]) -> dict:
        per_task = {f"t{i}": float(v) for i, v in enumerate(values)}
        return {"pass@1": sum(values) / len(values), "n_tasks": len(values), "per_task": per_task}

    return {
        "row": row,
        "algo": "none" if row == "base" else "actor-critic",
        "seed": seed,
        "tasks": "mbpp:train",
        "budget": {"steps": 0 if row == "base" else 10, "programs": programs},
        "eval": {"mbpp": bench(mbpp), "humaneval": bench(he), "humaneval+": bench(he)},
        "finished": finished,
    }


def test_results_are_appended_and_the_newest_row_wins(tmp_path):
    path = tmp_path / "results.jsonl"
    rl_compare.append_result(path, result("base", 0, [1, 0], [0], finished="old"))
    rl_compare.append_result(path, result("base", 0, [1, 1], [1], finished="new"))
    with path.open("a") as f:
        f.write('{"row": "ppo", "se')  # a line cut by a kill: that row is simply rerun
    rows = rl_compare.read_results(path)
    assert len(rows) == 2  # the old line is kept in the file
    assert rl_compare.latest(rows)[("base", 0)]["finished"] == "new"


def test_table_reports_paired_differences_against_base_and_the_method():
    base = [1] * 20 + [0] * 80
    method = [1] * 60 + [0] * 40  # solves the base's 20 and 40 more
    results = [
        result("base", 0, base, [1, 0, 0, 0]),
        result("ac-mined", 0, method, [1, 1, 0, 0], programs=160),
        result("ac-mined", 1, method, [1, 1, 1, 0], programs=160),
    ]
    text = rl_compare.table(results)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    method_cells = [c.strip() for c in lines["ac-mined"].split("|")[1:-1]]
    assert method_cells[:7] == ["ac-mined", "actor-critic", "mbpp:train", "0,1", "160", "10", "60.0 (n=100)"]
    assert method_cells[7] == "62.5 (n=4)"  # humaneval averaged over the two seeds per task
    assert method_cells[9].startswith("+40.0 [") and method_cells[9].endswith("*")  # vs base, significant
    assert method_cells[12:] == ["—", "—", "—"]  # no comparison of the method with itself
    base_cells = [c.strip() for c in lines["base"].split("|")[1:-1]]
    assert base_cells[9:12] == ["—", "—", "—"]
    assert base_cells[12].startswith("+40.0 [")  # method − base


def test_unknown_rows_are_a_one_line_error(capsys):
    assert rl_compare.main(["--rows", "base,nope", "--out", "/tmp/unused-rl-compare"]) == 2
    assert "unknown row(s) nope" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(rl_compare.PROFILES))
def test_every_profile_gives_every_row_the_same_training_budget(name):
    profile = rl_compare.PROFILES[name]
    assert {"steps", "prompts_per_step", "k", "max_new_tokens", "learning_rate"} <= set(profile.train)
    assert json.dumps(profile.train)  # plain config values, settable as key=value
    assert rl_compare.ROWS[0].name == "base" and rl_compare.METHOD in rl_compare.ROWS_BY_NAME


@pytest.mark.slow
def test_parallel_rows_run_in_their_own_processes_and_all_land_in_one_table(tmp_path, tiny_path):
    """--parallel: each row in a child process appending under a lock; the parent prints every row."""
    import subprocess

    from unitrl.tasks import Task, write_tasks

    mined = tmp_path / "mined.jsonl"
    task = Task("mined/double", "Write double(x) returning 2 * x.", "double", ["assert double(2) == 4"])
    write_tasks(mined, [task])
    out = tmp_path / "out"
    cmd = [sys.executable, str(_PATH), "--profile", "smoke", "--model", str(tiny_path), "--rows", "base,grpo"]
    cmd += ["--out", str(out), "--mined", str(mined), "--parallel", "2", "--threads", "1", "--steps", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "base seed 0: ok" in proc.stdout and "grpo seed 0: ok" in proc.stdout
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["row"] for r in rows) == ["base", "grpo"]
    assert next(r for r in rows if r["row"] == "grpo")["budget"]["steps"] == 1  # --steps reached the child
    assert all(r["model"] == str(tiny_path) and r["device"] == "cpu" for r in rows)
    assert (out / "grpo-seed0.log").is_file() and "| grpo |" in proc.stdout
    # a rerun finds both rows done and starts nothing
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "started" not in again.stdout


def test_a_failed_rows_reason_is_the_exceptions_last_line(tmp_path):
    log = tmp_path / "grpo-seed0.log"
    log.write_text(
        'grpo: 480 tasks\nTraceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 34.16 GiB.\n\n"
    )
    reason = rl_compare._last_error(log)
    assert reason.startswith("torch.OutOfMemoryError: CUDA out of memory") and str(log) in reason
    log.write_text("grpo: 480 tasks\nunitrl: error: prompts_per_step (3) must be a multiple of 2\n")
    assert rl_compare._last_error(log).startswith("unitrl: error: prompts_per_step (3)")


def test_a_base_row_is_reused_only_from_a_profile_that_evaluates_the_same_way(tmp_path):
    cpu = rl_compare.PROFILES["cpu"]
    assert rl_compare.eval_signature(rl_compare.PROFILES["cpu-lr"]) == rl_compare.eval_signature(cpu)
    assert rl_compare.eval_signature(rl_compare.PROFILES["gpu"]) != rl_compare.eval_signature(cpu)
    (tmp_path / "cpu").mkdir()
    rl_compare.append_result(
        tmp_path / "cpu" / "results.jsonl", {**result("base", 0, [1, 0], [1]), "profile": "cpu"}
    )
    reused = rl_compare.base_from_twin(rl_compare.PROFILES["cpu-lr"], 0, rl_compare.DEFAULT_MODEL, tmp_path)
    assert reused is not None and reused["profile"] == "cpu-lr" and reused["reused_from"] == "cpu"
    assert reused["eval"] == result("base", 0, [1, 0], [1])["eval"]
    assert (
        rl_compare.base_from_twin(rl_compare.PROFILES["cpu-lr"], 1, rl_compare.DEFAULT_MODEL, tmp_path)
        is None
    )
    assert (
        rl_compare.base_from_twin(rl_compare.PROFILES["gpu"], 0, rl_compare.DEFAULT_MODEL, tmp_path) is None
    )
    assert rl_compare.base_from_twin(rl_compare.PROFILES["cpu-lr"], 0, "/other/model", tmp_path) is None


class _FakeRow:
    """Stands in for a row's child process: writes a log line and exits with the code given for this try."""

    exits: ClassVar[dict[str, list[int]]] = {}
    polls: ClassVar[dict[str, int]] = {}  # polls until the row exits (default 2)
    started: ClassVar[list[tuple[str, int]]] = []  # (row, rows running when it started)
    running = 0

    def __init__(self, cmd, stdout, stderr):
        self.row = cmd[cmd.index("--rows") + 1]
        _FakeRow.running += 1
        _FakeRow.started.append((self.row, _FakeRow.running))
        self.rc = _FakeRow.exits[self.row].pop(0)
        stdout.write("torch.OutOfMemoryError: CUDA out of memory.\n" if self.rc else "done\n")
        stdout.flush()
        self.polls = _FakeRow.polls.get(self.row, 2)

    def poll(self):
        self.polls -= 1
        if self.polls > 0:
            return None
        _FakeRow.running -= 1
        return self.rc


def test_parallel_rows_that_run_out_of_memory_are_tried_once_more_with_fewer_at_once(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(rl_compare.subprocess, "Popen", _FakeRow)
    monkeypatch.setattr(rl_compare, "eval_tasks", lambda profile: None)
    monkeypatch.setattr(rl_compare, "ensure_mined", lambda path, profile: None)
    monkeypatch.setattr(rl_compare, "POLL_SECONDS", 0.0)
    # ppo runs out of memory twice (given up after one retry), grpo once (its retry succeeds)
    _FakeRow.exits = {"base": [0], "ppo": [1, 1], "grpo": [1, 0], "rloo": [0]}
    _FakeRow.polls = {"rloo": 8}  # still running when the retries start
    _FakeRow.started, _FakeRow.running = [], 0
    args = rl_compare.argparse.Namespace(parallel=4, model="m", threads=1, steps=None)
    rc = rl_compare.run_parallel(
        args,
        rl_compare.PROFILES["smoke"],
        ["base", "ppo", "grpo", "rloo"],
        [0],
        set(),
        tmp_path,
        tmp_path / "m",
    )
    out = capsys.readouterr()
    assert rc == 1 and "rows failed: ppo-seed0" in out.err and "grpo-seed0" not in out.err
    assert [row for row, _ in _FakeRow.started] == ["base", "ppo", "grpo", "rloo", "ppo", "grpo"]
    assert [at_once for _, at_once in _FakeRow.started[4:]] == [2, 2]  # beside rloo: at most half of 4
    assert out.out.count("trying once more") == 2


def test_a_trained_rows_optimiser_and_gradients_are_freed_before_it_is_evaluated():
    import gc
    import weakref

    import torch

    class Trainer:
        def __init__(self) -> None:
            self.model = torch.nn.Linear(4, 4)
            self.optimizer = torch.optim.AdamW(self.model.parameters())
            self.model(torch.ones(2, 4)).sum().backward()
            self.optimizer.step()  # optimiser state: what the row no longer needs once it evaluates

    summary = {"trainer": Trainer(), "tokenizer": "tok", "steps": 1}
    trainer = weakref.ref(summary["trainer"])
    optimizer = weakref.ref(summary["trainer"].optimizer)
    model = rl_compare.release_training_state(summary)
    gc.collect()
    assert trainer() is None and optimizer() is None
    assert all(p.grad is None for p in model.parameters())
    assert summary == {"tokenizer": "tok", "steps": 1}
    assert model(torch.ones(1, 4)).shape == (1, 4)  # the policy itself is kept
