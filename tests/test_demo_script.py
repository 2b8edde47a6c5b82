"""``make demo`` (scripts/demo.py) end to end on a tiny local model: every stage runs and reports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")


@pytest.mark.slow
def test_demo_runs_every_stage_and_prints_before_and_after(tiny_path, tmp_path, capsys):
    path = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"
    spec = importlib.util.spec_from_file_location("unitrl_demo", path)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    sys.modules["unitrl_demo"] = demo
    spec.loader.exec_module(demo)
    args = ["--model", str(tiny_path), "--out", str(tmp_path / "demo"), "--eval-tasks", "2"]
    args += ["--mine-functions", "4", "--steps", "1", "--threads", "1"]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    assert "before:" in out and "after:" in out and "paired bootstrap 95% interval" in out
    run = tmp_path / "demo" / "actor-critic"
    assert (run / "metrics.jsonl").read_text().count("\n") == 1
    assert (run / "policy" / "config.json").is_file()
    assert (tmp_path / "demo" / "eval-after" / "summary.json").is_file()
    # resumable: a second run reuses every stage's output
    assert demo.main(args) == 0
