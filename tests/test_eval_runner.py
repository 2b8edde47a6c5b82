"""``evaluate`` end to end: reference solutions, a scripted model with known answers, resume, errors, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from unitrl.errors import UnitrlError  # noqa: E402
from unitrl.evaluation.runner import (  # noqa: E402
    CONFIG_FILE,
    SAMPLES_FILE,
    SUMMARY_FILE,
    EvalConfig,
    default_out_dir,
    evaluate,
    run_fingerprint,
    sample_programs,
    summary_table,
)
from unitrl.models.tiny import build_tiny_model, build_tiny_tokenizer  # noqa: E402
from unitrl.tasks import Task, write_tasks  # noqa: E402

TASKS = [
    Task(
        task_id="t/add",
        prompt='def add(a, b):\n    """Return a + b.\n    >>> add(1, 2)\n    3\n    """\n',
        entry_point="add",
        tests=["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
        reference="def add(a, b):\n    return a + b\n",
    ),
    Task(
        task_id="t/rev",
        prompt="Write a function to reverse a string.\nassert rev('abc') == 'cba'",
        entry_point="rev",
        tests=["assert rev('abc') == 'cba'", "assert rev('') == ''"],
        reference="def rev(s):\n    return s[::-1]\n",
    ),
    Task(
        task_id="t/total",
        prompt='from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n',
        entry_point="total",
        tests=["assert total([1, 2]) == 3", "assert total(DATA) == 6"],
        test_setup="DATA = [1, 2, 3]",
        reference="from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n",
    ),
    Task(
        task_id="t/loop",
        prompt='def forever():\n    """Return 1."""\n',
        entry_point="forever",
        tests=["assert forever() == 1"],
        reference="def forever():\n    return 1\n",
    ),
]

# What the scripted model answers, by entry point, per sample index (cycled).
ANSWERS = {
    "add": [
        "```python\ndef add(a, b):\n    return a + b\n```\nThis adds.",
        "```python\ndef add(a, b):\n    return a - b\n```",
    ],
    "rev": ["Here you go:\n```python\ndef rev(s):\n    return s[::-1]\n\nprint(rev('ab'))\n```"],
    "total": [
        "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```"
    ],  # needs the prompt's import
    "forever": [
        "```python\ndef forever()\n    return 1\n```",
        "```python\ndef forever():\n    while True:\n        pass\n```",
    ],
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest single-threaded (thread start-up dominates); shared CI VMs make it worse."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class ScriptedLM(torch.nn.Module):
    """A stand-in causal LM that answers each chat prompt with a canned text, token by token.

    It goes through the real tokenizer and the real stopping criteria, so the evaluation pipeline (prompting,
    batching, stops, extraction, execution, pass@k) is exercised with answers whose correctness is known.
    """

    def __init__(self, tokenizer):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tok = tokenizer
        self.generation_config = SimpleNamespace(eos_token_id=tokenizer.eos_token_id)
        self.config = SimpleNamespace(_name_or_path="scripted")
        self.calls = 0
        self.rows = 0

    def answer(self, prompt: str, index: int) -> str:
        for name, options in ANSWERS.items():
            if f"`{name}`" in prompt or f"def {name}(" in prompt:
                return options[index % len(options)]
        raise AssertionError(f"no scripted answer for {prompt!r}")

    def generate(self, input_ids, attention_mask, max_new_tokens, stopping_criteria, pad_token_id, **kwargs):
        self.calls += 1
        self.rows += input_ids.shape[0]
        seen: dict[str, int] = {}
        answers = []
        for row, mask in zip(input_ids, attention_mask, strict=True):
            prompt = self.tok.decode(row[mask.bool()])
            index = seen[prompt] = seen.get(prompt, -1) + 1
            ids = self.tok(self.answer(prompt, index), add_special_tokens=False)["input_ids"]
            answers.append([*ids, self.tok.eos_token_id])
        seq = input_ids
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
        for step in range(max_new_tokens):
            nxt = torch.tensor(
                [pad_token_id if done[r] or step >= len(a) else a[step] for r, a in enumerate(answers)]
            )
            done |= nxt == self.tok.eos_token_id
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done |= stopping_criteria(seq, None)
            if done.all():
                break
        return seq


@pytest.fixture
def scripted():
    tok = build_tiny_tokenizer(chat=True)
    tok.padding_side = "left"
    return ScriptedLM(tok), tok


def config(tmp_path, **kwargs) -> EvalConfig:
    defaults = {"benchmark": "unit", "out": tmp_path / "out", "workers": 2, "timeout": 1.0, "progress": False}
    return EvalConfig(**{**defaults, **kwargs})


def rows(out) -> list[dict]:
    return [json.loads(line) for line in (out / SAMPLES_FILE).read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ reference


def test_reference_scores_one_and_writes_files(tmp_path):
    cfg = config(tmp_path)
    summary = evaluate("reference", TASKS, cfg)
    assert summary.pass_at_k == {"pass@1": 1.0}
    assert summary.outcomes == {"pass": 4} and summary.tasks == 4 and summary.samples == 4
    written = rows(cfg.out)
    assert sorted(r["task_id"] for r in written) == sorted(t.task_id for t in TASKS)
    assert {
        "task_id", "sample_id", "completion", "raw", "passed", "outcome", "tests_passed", "tests_total",
    } <= set(written[0])  # fmt: skip
    assert all(r["tests_passed"] == r["tests_total"] == 2 for r in written if r["task_id"] != "t/loop")
    on_disk = json.loads((cfg.out / SUMMARY_FILE).read_text())
    assert on_disk["pass_at_k"] == {"pass@1": 1.0} and on_disk["model"] == "reference"
    assert on_disk["timings"]["execution_programs_per_second"] > 0
    assert json.loads((cfg.out / CONFIG_FILE).read_text())["prompt_format"] == "reference"


def test_reference_that_fails_is_reported(tmp_path):
    broken = [TASKS[0], Task(**{**TASKS[1].to_dict(), "reference": "def rev(s):\n    return s\n"})]
    summary = evaluate("reference", broken, config(tmp_path, out=None))
    assert summary.pass_at_k == {"pass@1": 0.5}
    assert summary.outcomes == {"pass": 1, "fail": 1}


# ----------------------------------------------------------------------------------------- scripted model


def test_scripted_model_pass_at_k(tmp_path, scripted):
    model, tok = scripted
    cfg = config(tmp_path, n=2, ks=[1, 2], temperature=0.8, max_new_tokens=64, batch_size=3)
    summary = evaluate((model, tok), TASKS, cfg)
    # add: 1 of 2 right; rev: 2/2 (print dropped); total: 2/2 (import added); forever: syntax error + timeout
    assert summary.per_task == {"t/add": [2, 1], "t/rev": [2, 2], "t/total": [2, 2], "t/loop": [2, 0]}
    assert summary.pass_at_k["pass@1"] == pytest.approx((0.5 + 1 + 1 + 0) / 4)
    assert summary.pass_at_k["pass@2"] == pytest.approx(3 / 4)
    assert summary.outcomes == {"pass": 5, "fail": 1, "syntax_error": 1, "timeout": 1}
    assert summary.prompt_format == "chat" and summary.model == "scripted"
    assert summary.timings["generated_tokens"] > 0 and summary.timings["generation_tokens_per_second"] > 0
    by_key = {(r["task_id"], r["sample_id"]): r for r in rows(cfg.out)}
    rev = by_key[("t/rev", 0)]
    assert "print(" in rev["raw"] and "print(" not in rev["completion"]
    assert rev["finish_reason"] == "stop"  # the closed ```python block ended generation
    assert by_key[("t/total", 0)]["completion"].startswith("from typing import List")
    assert by_key[("t/add", 0)]["raw"].endswith("```") and "This adds" not in by_key[("t/add", 0)]["raw"]


def test_sample_programs_for_rl_rollouts(scripted):
    model, tok = scripted
    out = sample_programs(model, tok, TASKS[:3], n=2, temperature=1.0, max_new_tokens=64, seed=0)
    assert [len(row) for row in out] == [2, 2, 2]
    add0, add1 = out[0]
    assert add0.program == "def add(a, b):\n    return a + b\n" and "a - b" in add1.program
    assert add0.prompt.format == "chat" and add0.task is TASKS[0]
    assert tok.decode(add0.completion.token_ids).startswith("```python")
    assert out[2][0].program.startswith("from typing import List")
    assert sample_programs(model, tok, []) == []


def test_resume_generates_only_missing_samples(tmp_path, scripted):
    model, tok = scripted
    cfg = config(tmp_path, n=1, temperature=0.8, max_new_tokens=64)
    evaluate((model, tok), TASKS[:2], cfg)
    assert model.rows == 2
    # same settings, nothing missing: no generation at all
    evaluate((model, tok), TASKS[:2], cfg)
    assert model.rows == 2
    # more tasks and more samples: only the 2 new tasks x 2 + 2 old tasks x 1 rows are generated
    cfg.n = 2
    summary = evaluate((model, tok), TASKS, cfg)
    assert model.rows == 2 + 4 + 2
    assert summary.samples == 8
    keys = [(r["task_id"], r["sample_id"]) for r in rows(cfg.out)]
    assert len(keys) == len(set(keys)) == 8


def test_resume_survives_a_torn_last_line(tmp_path, scripted):
    model, tok = scripted
    cfg = config(tmp_path, max_new_tokens=64)
    evaluate((model, tok), TASKS[:2], cfg)
    kept = rows(cfg.out)[0]
    (cfg.out / SAMPLES_FILE).write_text(json.dumps(kept) + "\n" + '{"task_id": "t/rev", "sampl')
    summary = evaluate((model, tok), TASKS[:2], cfg)
    assert summary.samples == 2 and len(rows(cfg.out)) == 2


def test_resume_with_other_settings_is_refused(tmp_path, scripted):
    model, tok = scripted
    evaluate((model, tok), TASKS[:1], config(tmp_path, temperature=0.2, max_new_tokens=64))
    with pytest.raises(UnitrlError, match=r"temperature=0.2 \(now 0.7\)"):
        evaluate((model, tok), TASKS[:1], config(tmp_path, temperature=0.7, max_new_tokens=64))


def test_samples_without_config_are_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / SAMPLES_FILE).write_text('{"task_id": "t/add", "sample_id": 0}\n')
    with pytest.raises(UnitrlError, match=r"config\.json"):
        evaluate("reference", TASKS, config(tmp_path))


# ------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 1, "ks": [1, 10]}, "-k 10 is larger than -n 1"),
        ({"n": 0}, "-n must be at least 1"),
        ({"temperature": -1.0}, "--temperature"),
        ({"top_p": 0.0}, "--top-p"),
        ({"batch_size": 0}, "--batch-size"),
        ({"prompt_format": "xml"}, "--prompt-format"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, kwargs, message):
    with pytest.raises(UnitrlError, match=message) as info:
        evaluate("some-model", TASKS, config(tmp_path, **kwargs))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing written, no model loaded


def test_missing_model_and_missing_reference(tmp_path):
    with pytest.raises(UnitrlError, match="no such file"):
        evaluate(str(tmp_path / "nope"), TASKS, config(tmp_path))
    assert not (tmp_path / "out").exists()
    no_ref = [Task(**{**TASKS[0].to_dict(), "reference": ""})]
    with pytest.raises(UnitrlError, match="reference solution"):
        evaluate("reference", no_ref, config(tmp_path))
    with pytest.raises(UnitrlError, match="no tasks"):
        evaluate("reference", [], config(tmp_path))


def test_default_out_dir_depends_on_settings():
    a = default_out_dir("m", "data/tasks.jsonl", run_fingerprint("m", EvalConfig(temperature=0.2)))
    b = default_out_dir("m", "data/tasks.jsonl", run_fingerprint("m", EvalConfig(temperature=0.2, n=10)))
    c = default_out_dir("m", "data/tasks.jsonl", run_fingerprint("m", EvalConfig(temperature=0.8)))
    assert a == b != c  # n is not a setting of the samples: more samples resume into the same dir
    assert a.name.startswith("m-tasks-")


def test_summary_table_renders(tmp_path):
    from rich.console import Console

    summary = evaluate("reference", TASKS[:1], config(tmp_path, out=None))
    console = Console(record=True, width=120)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "pass@1" in text and "100.00%" in text and "programs/s" in text


# ------------------------------------------------------------------------------------ tiny model and CLI


def unitrl(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # see one_torch_thread
    return subprocess.run(
        [sys.executable, "-m", "unitrl", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


@pytest.mark.parametrize("chat", [True, False])
def test_tiny_model_end_to_end(tmp_path, chat):
    path = build_tiny_model(tmp_path / "tiny", chat=chat)
    cfg = config(tmp_path, n=2, ks=[1, 2], temperature=1.0, max_new_tokens=16, batch_size=4)
    summary = evaluate(str(path), TASKS[:2], cfg)
    assert summary.samples == 4 and summary.prompt_format == ("chat" if chat else "completion")
    assert sum(summary.outcomes.values()) == 4
    assert 0.0 <= summary.pass_at_k["pass@2"] <= 1.0
    for row in rows(cfg.out):
        assert row["num_tokens"] <= 16 and isinstance(row["completion"], str)
        if not chat and row["task_id"] == "t/add":  # code prompt: the program continues the prompt
            assert row["completion"].startswith("def add(a, b):")


def test_cli_eval_reference_and_errors(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    write_tasks(tasks, TASKS[:3])
    out = tmp_path / "ref"
    proc = unitrl(
        "eval", "--model", "reference", "--benchmark", str(tasks), "--out", str(out), "--workers", "2"
    )
    assert proc.returncode == 0, proc.stderr
    assert "pass@1" in proc.stdout and "100.00%" in proc.stdout
    assert json.loads((out / SUMMARY_FILE).read_text())["pass_at_k"] == {"pass@1": 1.0}

    for args, message in [
        (["-k", "1,10"], "-k 10 is larger than -n 1"),
        (["--benchmark", "nope"], "unknown benchmark"),
        (["--model", str(tmp_path / "missing")], "no such file"),
        (["-k", "x"], "-k"),
    ]:
        base = {"--model": "reference", "--benchmark": str(tasks), "--out": str(tmp_path / "o2")}
        flags = [a for kv in base.items() for a in kv if kv[0] not in args] + args
        proc = unitrl("eval", *flags)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0, proc.stderr


def test_cli_eval_tiny_model_default_out_dir(tmp_path):
    path = build_tiny_model(tmp_path / "tiny", chat=True)
    tasks = tmp_path / "tasks.jsonl"
    write_tasks(tasks, TASKS[:2])
    args = ["eval", "-m", str(path), "-b", str(tasks), "-n", "2", "-k", "1,2", "--max-new-tokens", "8"]
    proc = unitrl(*args, "--seed", "3", "--workers", "2", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs" / "eval").iterdir()
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    assert (
        summary["n"] == 2
        and summary["temperature"] == 0.8
        and set(summary["pass_at_k"]) == {"pass@1", "pass@2"}
    )
    first = (run_dir / SAMPLES_FILE).read_text()
    # rerun: everything is resumed, nothing regenerated
    proc = unitrl(*args, "--seed", "3", "--workers", "2", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / SAMPLES_FILE).read_text() == first
