"""``unitrl check`` end to end through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.test_tasks import TASK, write


def unitrl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unitrl", *args], capture_output=True, text=True, timeout=120
    )


def test_check_writes_results_and_summary(tmp_path):
    tasks = write(tmp_path / "tasks.jsonl", TASK)
    completions = write(
        tmp_path / "c.jsonl",
        {"task_id": "t/1", "completion": TASK["reference"], "sample_id": "good"},
        {"task_id": "t/1", "completion": "def add(a, b):\n    return a - b\n"},
        {"task_id": "t/1", "completion": "def add(a, b) return"},
    )
    out = tmp_path / "results.jsonl"
    proc = unitrl(
        "check", "--tasks", str(tasks), "--completions", str(completions), "--out", str(out), "--workers", "2"
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["sample_id"], r["passed"], r["outcome"]) for r in rows] == [
        ("good", True, "pass"),
        (1, False, "fail"),
        (2, False, "syntax_error"),
    ]
    assert all({"task_id", "tests_passed", "tests_total"} <= set(r) for r in rows)
    assert "checked 3 completions: 1 passed" in proc.stdout


def test_check_bad_input_is_one_line_error(tmp_path):
    tasks = write(tmp_path / "tasks.jsonl", TASK)
    completions = write(tmp_path / "c.jsonl", {"task_id": "missing", "completion": "x = 1"})
    proc = unitrl(
        "check", "--tasks", str(tasks), "--completions", str(completions), "--out", str(tmp_path / "o")
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not in the task file" in proc.stderr
    assert "Traceback" not in proc.stderr
