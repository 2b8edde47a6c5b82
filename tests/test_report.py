"""``unitrl report``: curves and comparison tables from synthetic run and eval directories (no model, fast)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from unitrl import reporting
from unitrl.cli import report as report_cli
from unitrl.errors import UnitrlError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_jsonl(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")


def _metrics(step, reward, pass_rate, **extra):
    return {
        "step": float(step),
        "reward_mean": reward,
        "pass_rate": pass_rate,
        "loss": 1.0 / step,
        "kl": 0.01 * step,
        "grad_norm": 0.5,
        **extra,
    }


def make_ac_run(root):
    """actor-critic, 6 steps of 4 fresh samples, 10 s each; resumed (steps 4-5 logged twice); evals.jsonl."""
    run = root / "ac"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"algo": "actor-critic", "lora": {"r": 8}, "dtype": "float32"}))
    (run / "config.json").write_text(json.dumps({"steps": 6, "k": 2, "prompts_per_step": 2, "seed": 0}))
    rewards = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    passes = [0.0, 0.25, 0.25, 0.5, 0.5, 0.75]
    rows = [
        _metrics(s, r, p, n_fresh=4.0, critic_loss=0.3 / s, step_seconds=10.0)
        for s, r, p in zip(range(1, 7), rewards, passes, strict=True)
    ]
    stale = [_metrics(s, 9.0, 1.0, n_fresh=4.0, critic_loss=9.0, step_seconds=99.0) for s in (4, 5)]
    _write_jsonl(run / "metrics.jsonl", rows[:3] + stale + rows[3:], tail='{"step": 7.0, "rew')
    evals = [
        {
            "step": s,
            "benchmark": "mbpp",
            "split": "validation",
            "n_tasks": 90,
            "passed": round(p * 90),
            "pass@1": p,
            "seconds": 20.0,
        }
        for s, p in ((0, 0.2), (3, 0.5), (6, 0.4))
    ]
    _write_jsonl(run / "evals.jsonl", evals)
    return run


def make_grpo_run(root):
    """grpo, 4 of 10 planned steps, no n_fresh (samples = steps * prompts_per_step * k), no evals, no times."""
    run = root / "grpo"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"algo": "grpo", "lora": {}, "dtype": "float32"}))
    (run / "config.json").write_text(json.dumps({"steps": 10, "k": 4, "prompts_per_step": 2}))
    rows = [
        _metrics(s, r, p)
        for s, r, p in zip(range(1, 5), [0.0, 0.5, 0.5, 1.0], [0.0, 0.25, 0.5, 0.5], strict=True)
    ]
    _write_jsonl(run / "metrics.jsonl", rows)
    return run


def make_eval_dir(root):
    out = root / "he"
    out.mkdir()
    summary = {
        "model": "runs/ac/policy",
        "benchmark": "mbpp",
        "split": "test",
        "n": 10,
        "ks": [1, 10],
        "tasks": 20,
        "samples": 200,
        "pass_at_k": {"pass@1": 0.366, "pass@10": 0.5},
        "timings": {"wall_seconds": 150.0},
    }
    (out / "summary.json").write_text(json.dumps(summary))
    (out / "config.json").write_text(json.dumps({"model": "runs/ac/policy", "benchmark": "mbpp"}))
    return out


def cli_app():
    app = typer.Typer()
    report_cli.register(app)
    app.command("noop")(lambda: None)  # two commands, so "report" is a subcommand as in the real CLI
    return app


def table_rows(markdown):
    return {
        cells[0]: cells
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith("| run ") and not line.startswith("| eval ")
        for cells in [[c.strip() for c in line.strip().strip("|").split("|")]]
    }


def test_report_of_two_runs_and_an_eval_dir(tmp_path):
    runs = [make_ac_run(tmp_path), make_grpo_run(tmp_path), make_eval_dir(tmp_path)]
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli_app(), ["report", *map(str, runs), "--out", str(out), "--smooth", "2", "--last", "3"]
    )
    assert result.exit_code == 0, result.output

    png = (out / "curves.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000

    md = (out / "report.md").read_text()
    assert "![training curves](curves.png)" in md
    rows = table_rows(md)
    assert rows["ac"] == [
        "ac",
        "actor-critic",
        "6",
        "24",
        "0.500",
        "58.3%",
        "mbpp:validation (90 tasks)",
        "20.0% (step 0)",
        "40.0% (step 6)",
        "50.0% (step 3)",
        "2m 00s",
    ]
    assert rows["grpo"] == ["grpo", "grpo", "4 / 10", "32", "0.667", "41.7%", "—", "—", "—", "—", "—"]
    assert rows["he"] == ["he", "runs/ac/policy", "mbpp:test", "20", "10", "36.6%", "50.0%", "2m 30s"]
    assert "| eval | model | benchmark | tasks | samples/task | pass@1 | pass@10 | wall time |" in md
    # the tables are printed too
    assert table_rows(result.stdout) == rows

    data = json.loads((out / "report.json").read_text())
    ac = data["runs"][0]
    assert ac["held_out"][0]["best"] == 0.5 and ac["held_out"][0]["best_step"] == 3
    assert data["runs"][1]["samples_seen"] == 32 and data["last"] == 3
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temporaries


def test_load_run_skips_torn_line_and_keeps_last_row_per_step(tmp_path):
    run = reporting.load_run(make_ac_run(tmp_path))
    assert [r["step"] for r in run.metrics] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert run.series("reward_mean")[1] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert reporting.wall_seconds(run) == 60.0 + 3 * 20.0
    assert run.held_out("mbpp:validation") == ([0.0, 3.0, 6.0], [0.2, 0.5, 0.4])


def test_held_out_from_metrics_when_evals_jsonl_is_missing(tmp_path):
    run_dir = make_ac_run(tmp_path)
    (run_dir / "evals.jsonl").unlink()
    (run_dir / "config.json").write_text(json.dumps({"eval_tasks": "mbpp", "eval_split": "validation"}))
    rows = [_metrics(s, 0.5, 0.5, **({"heldout_pass@1": s / 10} if s % 2 == 0 else {})) for s in (1, 2, 3, 4)]
    _write_jsonl(run_dir / "metrics.jsonl", rows)
    summary = reporting.summarize(reporting.load_run(run_dir), last=2)
    assert summary["held_out"] == [
        {
            "set": "mbpp:validation",
            "n_tasks": None,
            "evaluations": 2,
            "first": 0.2,
            "first_step": 2,
            "last": 0.4,
            "last_step": 4,
            "best": 0.4,
            "best_step": 4,
        }
    ]
    assert summary["wall_seconds"] is None


def test_moving_average():
    assert reporting.moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert reporting.moving_average([1.0, 2.0], 1) == [1.0, 2.0]
    assert reporting.moving_average([], 3) == []
    with pytest.raises(UnitrlError):
        reporting.moving_average([1.0], 0)


def test_format_duration():
    assert [reporting.format_duration(s) for s in (None, 45, 200, 7500)] == ["—", "45s", "3m 20s", "2h 05m"]


def test_single_eval_dir_and_default_out(tmp_path):
    ev = make_eval_dir(tmp_path)
    result = CliRunner().invoke(cli_app(), ["report", str(ev)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "report"
    md = (out / "report.md").read_text()
    assert table_rows(md)["he"][5] == "36.6%" and table_rows(result.stdout)["he"][5] == "36.6%"
    assert not (out / "curves.png").exists() and "curves.png" not in md  # nothing over steps to draw


def test_run_names_that_clash_get_their_parent(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    runs = reporting.load_runs([make_grpo_run(tmp_path / "a"), make_grpo_run(tmp_path / "b")])
    assert [r.name for r in runs] == ["a/grpo", "b/grpo"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "is not a training run or eval directory (no metrics.jsonl/summary.json)"),
    ],
)
def test_not_a_run_is_a_one_line_error(tmp_path, make, message):
    result = CliRunner().invoke(cli_app(), ["report", str(make(tmp_path)), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, UnitrlError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)


@pytest.mark.parametrize("flag", ["--smooth", "--last"])
def test_bad_window_is_a_unitrl_error(tmp_path, flag):
    run = make_grpo_run(tmp_path)
    result = CliRunner().invoke(cli_app(), ["report", str(run), flag, "0"])
    assert isinstance(result.exception, UnitrlError) and flag in str(result.exception)


def test_real_cli_prints_one_line_and_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "unitrl", "report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
