"""Does RL from unit tests work?  Every algorithm at the same budget, evaluated on the same tasks.

Rows (each trained from the same base model with the same LoRA, sampling settings, number of optimiser steps
and sampled programs per step, then evaluated greedily on the same tasks):

    base          the base model, no training
    ac-mbpp       actor-critic on MBPP train
    ac-mined      actor-critic on MBPP train + mined tasks          (the method)
    ac-frozen     actor-critic, critic pretrained then frozen       (ablation; MBPP train + mined)
    ac-mined-v    ac-mined with the critic reading the prompt only  (a state-value baseline: unbiased)
    ppo, coderl, grpo, rloo                                         (baselines; MBPP train + mined)

Evaluation: greedy pass@1 on an MBPP-test subset (tasks 11-510), HumanEval, and HumanEval+ (the HumanEval
completions run against HumanEval+'s extra inputs).  Every difference is reported paired, on the same tasks,
with a bootstrap 95% interval (:mod:`unitrl.evaluation.compare`): vs the base model and vs ac-mined.

Resumable and append-only, because the CPU table does not fit in one sitting on 2 cores: each row trains in
``OUT/ROW-seedS/`` (checkpoints, ``--resume`` semantics), evaluates into ``OUT/ROW-seedS/eval-*`` (resumable
samples), and only then appends one line to ``OUT/results.jsonl``.  Rerunning skips finished rows; a result
is never overwritten (``--redo ROW`` appends a new line, and the table uses the newest).

    python benchmarks/rl_compare.py --profile cpu                 # run what is missing, print the table
    python benchmarks/rl_compare.py --profile cpu --rows base,ac-mined --seeds 0,1
    python benchmarks/rl_compare.py --profile cpu --table         # only print the table
    python benchmarks/rl_compare.py --profile gpu --parallel 8    # one large GPU, all rows at once
    python benchmarks/rl_compare.py --profile smoke --model DIR --parallel 8   # machinery check, tiny model

The LoRA policy is evaluated in memory, unmerged: its adapters stay float32 over bfloat16 base weights,
where merging would round small updates away.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from unitrl.errors import UnitrlError  # noqa: E402


@dataclass
class Profile:
    """One budget: what every trained row gets, and what every row is evaluated on."""

    name: str
    #: Shared training settings (config keys), identical for every algorithm.
    train: dict[str, Any]
    #: LoRA settings (``lora_*`` keys without the prefix).
    lora: dict[str, Any]
    #: Extra settings of rows that pretrain a critic (ac-frozen, coderl): same pretraining for both.
    critic_pretrain_batches: int
    dtype: str
    #: Every ``mbpp_stride``-th MBPP test task (1 = all 500); every ``humaneval_stride``-th HumanEval task.
    mbpp_stride: int
    humaneval_stride: int
    eval_max_new_tokens: int
    eval_batch_size: int
    #: Micro-batches per algorithm: ``grad_accumulation`` changes only peak memory, not the update;
    #: PPO's ``num_minibatches`` is also its number of updates per batch (standard PPO), kept the same
    #: across profiles' runs.
    per_algo: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What ``unitrl mine`` runs to make the mined tasks, when the file is missing.
    mine_sources: list[str] = field(default_factory=list)
    mine_args: list[str] = field(default_factory=list)
    #: Use the mined tasks of this profile (``mined-NAME.jsonl``), so two profiles train on the same tasks.
    mined_as: str = ""


PROFILES = {
    # 2 CPU cores: a few minutes per step (16 programs of <=256 tokens, one LoRA update), ~30 min per
    # evaluation (100 MBPP + 41 HumanEval tasks) when the machine is shared.
    "cpu": Profile(
        name="cpu",
        train={
            "steps": 10,
            "prompts_per_step": 4,
            "k": 4,
            "max_new_tokens": 256,
            "temperature": 0.8,
            "learning_rate": 2e-5,
            "generation_batch_size": 16,
            "checkpoint_every": 2,
            "executor_timeout": 5.0,
        },
        lora={"r": 16, "alpha": 32.0},
        critic_pretrain_batches=2,
        dtype="bfloat16",
        mbpp_stride=5,
        humaneval_stride=4,
        eval_max_new_tokens=384,
        eval_batch_size=16,
        # 16 sequences of ~450 tokens in one backward pass need >24 GB here: 4 micro-batches of 4 (~9 GB)
        per_algo={
            "actor-critic": {"grad_accumulation": 4},
            "grpo": {"grad_accumulation": 4},
            "rloo": {"grad_accumulation": 4},
            "coderl": {"grad_accumulation": 4},
            "ppo": {"num_minibatches": 4},
        },
        mine_sources=["stdlib", "pypi:more-itertools"],
        mine_args=["--limit-functions", "400"],
    ),
    # One large GPU, every row in its own process at once (--parallel 8; fewer on an 80 GB card).  Measured on
    # an H200 (2026-11-26, 8 rows at once, 16-sequence micro-batches): a PPO row took 251 s to train (8 steps)
    # and 215 s to evaluate, the base row 341 s to evaluate (500 MBPP + 164 HumanEval); processes peaked at
    # 13-33 GB and six rows ran out of memory, hence 8-sequence micro-batches now.
    "gpu": Profile(
        name="gpu",
        train={
            "steps": 8,
            "prompts_per_step": 8,
            "k": 8,
            "max_new_tokens": 320,
            "temperature": 0.8,
            "learning_rate": 5e-5,
            "generation_batch_size": 64,
            "checkpoint_every": 2,
            "executor_timeout": 5.0,
        },
        lora={"r": 16, "alpha": 32.0},
        critic_pretrain_batches=2,
        dtype="bfloat16",
        mbpp_stride=1,
        humaneval_stride=1,
        eval_max_new_tokens=512,
        eval_batch_size=128,
        per_algo={
            "actor-critic": {"grad_accumulation": 8},
            "grpo": {"grad_accumulation": 8},
            "rloo": {"grad_accumulation": 8},
            "coderl": {"grad_accumulation": 8},
            "ppo": {"num_minibatches": 4},
        },
        mine_sources=["stdlib", "pypi:more-itertools", "pypi:toolz", "pypi:boltons"],
        mine_args=[],
    ),
    # Seconds, for checking the machinery (a tiny model via --model, e.g. on a new machine): not a result.
    "smoke": Profile(
        name="smoke",
        train={
            "steps": 2,
            "prompts_per_step": 2,
            "k": 2,
            "max_new_tokens": 24,
            "temperature": 1.0,
            "learning_rate": 1e-3,
            "generation_batch_size": 4,
            "checkpoint_every": 1,
            "executor_timeout": 5.0,
        },
        lora={"r": 4, "alpha": 8.0},
        critic_pretrain_batches=1,
        dtype="float32",
        mbpp_stride=125,
        humaneval_stride=55,
        eval_max_new_tokens=24,
        eval_batch_size=4,
        per_algo={"ppo": {"num_minibatches": 2}, "coderl": {"grad_accumulation": 2}},
        mine_sources=["stdlib"],
        mine_args=["--limit-functions", "40"],
    ),
}
# The GPU table within one 10-minute command (a 15-minute GPU lease, ~3 minutes of it spent bringing the model
# over): every row at once (--parallel 8), 5 steps each, every 2nd MBPP test task and all of HumanEval with 384
# new tokens.  Sized from the H200 run (~30 s a step, evaluation the bulk); run once on an H200 (2026-11-26):
# 5 steps took 190-225 s and an evaluation 134-155 s per row with eight at once, but five rows ran out of memory
# (one over-long prompt in a 128-row batch; now bounded, and OOM rows are retried).  The third run (session 5) ran
# four rows at a time, each handing its training memory back before evaluating: 62 GiB peak, no OOM, 5 steps in
# 143-156 s and an evaluation in 149-179 s per row.  Learning rate 2e-4 as "cpu-lr": at
# 5e-5, 5 Adam steps could move no adapter weight by more than 2.5e-4, too little to tell methods apart (the CPU
# table at 2e-5 showed it); otherwise as "gpu".
PROFILES["gpu-short"] = dataclasses.replace(
    PROFILES["gpu"],
    name="gpu-short",
    train={**PROFILES["gpu"].train, "steps": 5, "checkpoint_every": 1, "learning_rate": 2e-4},
    critic_pretrain_batches=1,
    mbpp_stride=2,
    eval_max_new_tokens=384,
)
# The CPU budget at a LoRA-sized learning rate: at 2e-5, 10 Adam steps move no adapter weight by more than
# 2e-4 and the trained rows stay within noise of the base model (docs/results.md); everything else as "cpu".
PROFILES["cpu-lr"] = dataclasses.replace(
    PROFILES["cpu"], name="cpu-lr", train={**PROFILES["cpu"].train, "learning_rate": 2e-4}, mined_as="cpu"
)

MBPP_TRAIN = "mbpp:train"
DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"


@dataclass(frozen=True)
class Row:
    name: str
    algo: str | None  # None = the base model, untrained
    mined: bool = False
    overrides: tuple[tuple[str, Any], ...] = ()
    pretrains_critic: bool = False


#: The critic as the issue specified it and the CPU table ran it: reading the sampled program too.
_PROGRAM_CRITIC = ("critic_input", "prompt+completion")

ROWS = [
    Row("base", None),
    # the in-sync critic is warm-started like the frozen one (same pretraining), so the ablation differs only
    # in whether the critic keeps learning; a cold critic's first predictions are off by more than the
    # reward range (measured: mean error 0.7-2.4 on rewards in [0, 1.5]), a useless baseline for steps
    Row("ac-mbpp", "actor-critic", overrides=(_PROGRAM_CRITIC,), pretrains_critic=True),
    Row("ac-mined", "actor-critic", mined=True, overrides=(_PROGRAM_CRITIC,), pretrains_critic=True),
    Row(
        "ac-frozen",
        "actor-critic",
        mined=True,
        overrides=(_PROGRAM_CRITIC, ("critic_frozen", True)),
        pretrains_critic=True,
    ),
    # the critic as a state-value baseline V(prompt) (unitrl's default since 2026-11-26): reading the program
    # makes the baseline depend on the action, which biases the gradient (see ActorCriticConfig.critic_input)
    Row("ac-mined-v", "actor-critic", mined=True, pretrains_critic=True),
    Row("ppo", "ppo", mined=True),
    Row("coderl", "coderl", mined=True, pretrains_critic=True),
    Row("grpo", "grpo", mined=True),
    Row("rloo", "rloo", mined=True),
]
ROWS_BY_NAME = {r.name: r for r in ROWS}
METHOD = "ac-mined"
BENCHES = ("mbpp", "humaneval", "humaneval+")


# --- tasks ------------------------------------------------------------------------------------------------


def eval_tasks(profile: Profile) -> dict[str, list[Any]]:
    """The evaluation tasks of a profile: fixed subsets, the same for every row."""
    from unitrl.benchmarks import load_benchmark

    mbpp = load_benchmark("mbpp", "test")[:: profile.mbpp_stride]
    humaneval = load_benchmark("humaneval", "test")[:: profile.humaneval_stride]
    keep = {t.task_id for t in humaneval}
    plus = [t for t in load_benchmark("humaneval+", "test") if t.task_id in keep]
    return {"mbpp": mbpp, "humaneval": humaneval, "humaneval+": plus}


def ensure_mined(path: Path, profile: Profile) -> Path:
    """Mine the tasks once (``unitrl mine``, resumable) and reuse the file for every row and seed."""
    if path.is_file() and path.stat().st_size > 0:
        return path
    cmd = [sys.executable, "-m", "unitrl", "mine", *profile.mine_sources, "--out", str(path)]
    cmd += profile.mine_args
    print("mining:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return path


# --- one row ----------------------------------------------------------------------------------------------


def train_row(
    row: Row, profile: Profile, seed: int, run_dir: Path, mined: Path | None, threads: int, model: str
) -> Any:
    """Train (or resume, or reload a finished run); returns ``run_train``'s summary (with ``trainer``)."""
    from unitrl.cli.train import run_train
    from unitrl.rl.build import resolve_settings

    assert row.algo is not None
    tasks = MBPP_TRAIN + (f",{mined}" if row.mined and mined is not None else "")
    file_data: dict[str, Any] = {**profile.train, "seed": seed}
    file_data.update({f"lora_{k}": v for k, v in profile.lora.items()})
    file_data.update(profile.per_algo.get(row.algo, {}))
    file_data.update(dict(row.overrides))
    if row.pretrains_critic:
        file_data["critic_pretrain_batches"] = profile.critic_pretrain_batches
    explicit = {"model": model, "tasks": tasks, "out": str(run_dir), "steps": None}
    config, lora = resolve_settings(row.algo, file_data, [], explicit)
    resume = (run_dir / "run.json").is_file()
    return run_train(
        config,
        lora,
        row.algo,
        resume=resume,
        dtype=profile.dtype,
        threads=threads,
        progress=False,
        export=False,
    )


def evaluate_row(
    model: Any, tokenizer: Any, tasks: dict[str, list[Any]], profile: Profile, run_dir: Path
) -> dict:
    """Greedy pass@1 on each benchmark, resumable per benchmark; per-task outcomes for paired comparisons."""
    from unitrl.checking import Completion, check_completions
    from unitrl.evaluation.runner import EvalConfig, evaluate
    from unitrl.execution import ExecutionConfig
    from unitrl.io import read_jsonl

    results: dict[str, Any] = {}
    for bench in ("mbpp", "humaneval"):
        started = time.monotonic()
        summary = evaluate(
            (model, tokenizer),
            tasks[bench],
            EvalConfig(
                benchmark=bench,
                split="test",
                max_new_tokens=profile.eval_max_new_tokens,
                batch_size=profile.eval_batch_size,
                timeout=10.0,
                dtype=profile.dtype,
                out=run_dir / f"eval-{bench}",
                progress=False,
            ),
        )
        per_task = {t: float(c) for t, (_, c) in summary.per_task.items()}
        results[bench] = {
            "pass@1": summary.pass_at_k["pass@1"],
            "n_tasks": len(per_task),
            "per_task": per_task,
            "seconds": time.monotonic() - started,
        }
    # HumanEval+: the same greedy HumanEval completions against the extra inputs (EvalPlus's protocol)
    plus = {t.task_id: t for t in tasks["humaneval+"]}
    completions = [
        Completion(rec["task_id"], rec["completion"], rec["sample_id"])
        for _, rec in read_jsonl(run_dir / "eval-humaneval" / "samples.jsonl")
        if rec["task_id"] in plus
    ]
    started = time.monotonic()
    rows, _ = check_completions(plus, completions, ExecutionConfig(timeout=60.0))
    per_task = {r["task_id"]: float(r["passed"]) for r in rows}
    results["humaneval+"] = {
        "pass@1": sum(per_task.values()) / len(per_task),
        "n_tasks": len(per_task),
        "per_task": per_task,
        "seconds": time.monotonic() - started,
    }
    return results


def release_training_state(summary: dict[str, Any]) -> Any:
    """Keep only the trained policy of a finished training, and hand the rest of its GPU memory back.

    With several rows on one GPU (``--parallel``), a row's optimiser state, critic, reference model and the
    allocator's cached activation blocks stayed reserved through its evaluation and starved the rows beside it
    (five rows ran out of memory on an H200, 2026-11-26).  Drops the trainer from ``summary`` (the caller must
    hold no other reference to it), clears the policy's gradients and empties the CUDA cache.
    """
    import gc

    import torch

    model = summary.pop("trainer").model
    model.zero_grad(set_to_none=True)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return model


def run_row(
    row: Row, profile: Profile, seed: int, out: Path, mined: Path | None, threads: int, model_spec: str
) -> dict:
    """Train and evaluate one row; returns the results line (appended by the caller)."""
    import torch

    torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    run_dir = out / f"{row.name}-seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    budget: dict[str, Any] = {"steps": 0, "programs": 0}
    train_info: dict[str, Any] = {}
    if row.algo is None:
        from unitrl.models import load_model

        model, tokenizer = load_model(model_spec, dtype=profile.dtype, device=device)
    else:
        summary = train_row(row, profile, seed, run_dir, mined, threads, model_spec)
        tokenizer, steps = summary["tokenizer"], summary["trainer"].step_count
        model = release_training_state(summary)
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        budget = {
            "steps": steps,
            "programs": int(sum(m.get("n_fresh", 0) for m in metrics)),
            "critic_pretrain_programs": int(sum(m.get("critic_pretrain_samples", 0) for m in metrics)),
        }
        train_info = {
            "train_reward_first": metrics[0]["reward_mean"] if metrics else None,
            "train_reward_last": metrics[-1]["reward_mean"] if metrics else None,
            "train_seconds": sum(m.get("step_seconds", 0.0) for m in metrics),
        }
    trained = time.monotonic()
    evals = evaluate_row(model, tokenizer, eval_tasks(profile), profile, run_dir)
    return {
        "row": row.name,
        "algo": row.algo or "none",
        "seed": seed,
        "profile": profile.name,
        "model": model_spec,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "tasks": "none" if row.algo is None else MBPP_TRAIN + (" + mined" if row.mined else ""),
        "budget": budget,
        **train_info,
        "eval": evals,
        "seconds": {"train_and_load": trained - started, "eval": time.monotonic() - trained},
        "commit": _commit(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _commit() -> str:
    """The code this process runs: HEAD when it started (``+dirty`` with uncommitted changes).

    Read once per process: a row that finishes hours later ran the code its process imported, whatever
    HEAD is by then.
    """
    global _COMMIT
    if _COMMIT is None:
        try:
            git = ["git", "-C", str(ROOT)]
            head = subprocess.run(
                [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
            )
            dirty = subprocess.run(
                [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
            )
            _COMMIT = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
        except (OSError, subprocess.CalledProcessError):
            _COMMIT = "unknown"
    return _COMMIT


_COMMIT: str | None = None


# --- results and the table --------------------------------------------------------------------------------


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill; the row is rerun
    return rows


def append_result(path: Path, record: dict[str, Any]) -> None:
    """One line, under an exclusive lock: rows running in parallel (``--parallel``) append to one file."""
    import fcntl

    with path.open("a", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def latest(results: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The newest result of each (row, seed); older lines stay in the file."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in results:
        out[(r["row"], int(r["seed"]))] = r
    return out


def table(results: list[dict[str, Any]]) -> str:
    """Markdown: pass@1 per benchmark (mean over seeds) and paired differences with bootstrap 95% CIs."""
    from unitrl.evaluation.compare import mean_over_seeds, paired_bootstrap

    newest = latest(results)
    by_row: dict[str, list[dict[str, Any]]] = {}
    for (name, _), r in sorted(newest.items(), key=lambda kv: kv[0][1]):
        by_row.setdefault(name, []).append(r)
    per_task = {
        name: {b: mean_over_seeds([r["eval"][b]["per_task"] for r in rs]) for b in BENCHES}
        for name, rs in by_row.items()
    }
    header = "| row | algo | train tasks | seeds | programs (+critic pretrain) | steps |"
    header += "".join(f" {b} pass@1 |" for b in BENCHES)
    header += "".join(f" Δ{b} vs base |" for b in BENCHES) + "".join(
        f" Δ{b} {METHOD} − row |" for b in BENCHES
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in ROWS:
        if row.name not in by_row:
            continue
        rs = by_row[row.name]
        first = rs[0]
        b = first["budget"]
        programs = f"{b.get('programs', 0)}" + (
            f" (+{b['critic_pretrain_programs']})" if b.get("critic_pretrain_programs") else ""
        )
        cells = [
            row.name,
            first["algo"],
            first["tasks"],
            ",".join(str(r["seed"]) for r in rs),
            programs,
            str(b["steps"]),
        ]
        for bench in BENCHES:
            scores = per_task[row.name][bench]
            cells.append(f"{100 * sum(scores.values()) / len(scores):.1f} (n={len(scores)})")
        for other, sign in (("base", 1), (METHOD, -1)):
            for bench in BENCHES:
                if other not in per_task or other == row.name:
                    cells.append("—")
                    continue
                a, c = (per_task[row.name][bench], per_task[other][bench])
                d = paired_bootstrap(a, c) if sign == 1 else paired_bootstrap(c, a)
                cells.append(d.format() + (" *" if d.significant else ""))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "pass@1 in %, greedy; Δ in percentage points, paired over the same tasks, with a bootstrap 95% interval "
        "(10,000 resamples of tasks); * = the interval excludes 0."
    )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------------


def eval_signature(profile: Profile) -> tuple[Any, ...]:
    """What a base row's evaluation depends on: two profiles with the same signature evaluate the same."""
    return (
        profile.mbpp_stride,
        profile.humaneval_stride,
        profile.eval_max_new_tokens,
        profile.eval_batch_size,  # bfloat16 results shift slightly with batch composition
        profile.dtype,
    )


def base_from_twin(profile: Profile, seed: int, model: str, runs: Path) -> dict[str, Any] | None:
    """A finished base row of another profile whose evaluation is identical (same model, tasks, settings),
    relabelled for ``profile`` with ``reused_from``; the base model is not trained, so it is the same run."""
    for other in PROFILES.values():
        if other.name == profile.name or eval_signature(other) != eval_signature(profile):
            continue
        found = latest(read_results(runs / other.name / "results.jsonl")).get(("base", seed))
        if found is not None and found.get("model", DEFAULT_MODEL) == model:
            return {**found, "profile": profile.name, "reused_from": other.name}
    return None


def _last_error(log: Path) -> str:
    """The line of a failed row's log that says why (an exception's last line), and where the log is."""
    lines = [
        ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
    ]
    errors = [
        ln for ln in lines if ln.startswith(("error:", "unitrl: error")) or "Error:" in ln.split(" ")[0]
    ]
    reason = (errors or lines or ["(empty log)"])[-1]
    return f"{reason[:300]} (log: {log})"


#: How often ``--parallel`` checks on its rows.
POLL_SECONDS = 1.0


def _out_of_memory(reason: str) -> bool:
    """Whether a failed row's last error (:func:`_last_error`) was running out of (GPU) memory: worth one more
    try, with fewer rows at once."""
    return "OutOfMemoryError" in reason or "out of memory" in reason.lower()


def run_parallel(
    args: argparse.Namespace,
    profile: Profile,
    names: list[str],
    seeds: list[int],
    redo: set[str],
    out: Path,
    mined_path: Path,
) -> int:
    """Run each pending (row, seed) as ``rl_compare.py --rows ROW --seeds S`` in its own process, N at once.

    What the rows share is prepared once here first (the mined tasks, HumanEval+'s expected outputs), so the
    children do not race to build it.  Each child logs to ``OUT/ROW-seedS.log`` and appends its own result.
    A row that runs out of memory (rows share one GPU, and one row's peak can starve the others) is tried once
    more, resuming from its last checkpoint, with at most half as many rows running beside it.
    """
    done = latest(read_results(out / "results.jsonl"))
    pending = deque((n, s) for s in seeds for n in names if (n, s) not in done or n in redo)
    if any(ROWS_BY_NAME[n].mined for n, _ in pending):
        ensure_mined(mined_path, profile)
    eval_tasks(profile)  # fills the HumanEval+ expected-output cache once
    running: list[tuple[str, int, subprocess.Popen, Any]] = []
    failed: list[str] = []
    retried: set[tuple[str, int]] = set()
    started = time.monotonic()

    def start(name: str, seed: int) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--profile", profile.name, "--rows", name]
        cmd += ["--seeds", str(seed), "--out", str(out), "--mined", str(mined_path), "--model", args.model]
        cmd += ["--threads", str(args.threads)] + (["--redo", name] if name in redo else [])
        cmd += [] if args.steps is None else ["--steps", str(args.steps)]
        log = (out / f"{name}-seed{seed}.log").open("a", encoding="utf-8")
        print(f"{name} seed {seed}: started", flush=True)
        running.append((name, seed, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))

    def reap() -> None:
        for job in list(running):
            name, seed, proc, log = job
            rc = proc.poll()
            if rc is None:
                continue
            log.close()
            running.remove(job)
            log_path = out / f"{name}-seed{seed}.log"
            reason = "" if rc == 0 else _last_error(log_path)
            status = "ok" if rc == 0 else f"FAILED (exit {rc}): {reason}"
            retry = rc != 0 and (name, seed) not in retried and _out_of_memory(reason)
            if retry:
                status += "; trying once more from its last checkpoint, with fewer rows at once"
            print(f"{name} seed {seed}: {status} at {time.monotonic() - started:.0f} s", flush=True)
            if retry:
                retried.add((name, seed))
                pending.append((name, seed))
            elif rc != 0:
                failed.append(f"{name}-seed{seed}")

    while pending or running:
        limit = max(1, args.parallel // 2) if retried else args.parallel
        while pending and len(running) < limit:
            start(*pending.popleft())
        time.sleep(POLL_SECONDS)
        reap()
    print(table(read_results(out / "results.jsonl")))
    if failed:
        print(f"error: rows failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--rows", default=",".join(r.name for r in ROWS), help="comma-separated row names")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--out", type=Path, default=None, help="default: runs/rl_compare/PROFILE")
    parser.add_argument(
        "--mined", type=Path, default=None, help="mined task file (default: OUT/../mined-PROFILE.jsonl)"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    parser.add_argument("--table", action="store_true", help="only print the table of the results so far")
    parser.add_argument("--redo", default="", help="rows to run again even if they have a result (appended)")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="base model: alias, checkpoint dir or .gguf (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimiser steps of every trained row (default: the profile's); recorded in each row's budget",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="run up to N rows at once, each in its own process (one large GPU holds several 0.5B policies)",
    )
    args = parser.parse_args(argv)

    profile = PROFILES[args.profile]
    _commit()  # the code this run imports, before anything changes the checkout
    if args.steps is not None:
        if args.steps < 1:
            print("error: --steps must be at least 1", file=sys.stderr)
            return 2
        profile = dataclasses.replace(profile, train={**profile.train, "steps": args.steps})
    out = args.out or ROOT / "runs" / "rl_compare" / profile.name
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    if args.table:
        print(table(read_results(results_path)))
        return 0
    names = [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in ROWS_BY_NAME]
    if unknown:
        print(
            f"error: unknown row(s) {', '.join(unknown)}; choose from {', '.join(ROWS_BY_NAME)}",
            file=sys.stderr,
        )
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    redo = {n.strip() for n in args.redo.split(",") if n.strip()}
    mined_path = args.mined or out.parent / f"mined-{profile.mined_as or profile.name}.jsonl"
    if args.parallel > 1:
        return run_parallel(args, profile, names, seeds, redo, out, mined_path)
    for seed in seeds:
        for name in names:
            row = ROWS_BY_NAME[name]
            done = latest(read_results(results_path))
            if (name, seed) in done and name not in redo:
                print(f"{name} seed {seed}: done ({done[(name, seed)]['finished']})", flush=True)
                continue
            if name in redo and (out / f"{name}-seed{seed}").exists() and (name, seed) in done:
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
                (out / f"{name}-seed{seed}").rename(out / f"{name}-seed{seed}.old-{stamp}")
            if row.algo is None and name not in redo:
                reused = base_from_twin(profile, seed, args.model, out.parent)
                if reused is not None:
                    append_result(results_path, reused)
                    print(f"{name} seed {seed}: reused from profile {reused['reused_from']}", flush=True)
                    continue
            mined = ensure_mined(mined_path, profile) if row.mined else None
            print(f"{name} seed {seed}: running", flush=True)
            t0 = time.monotonic()
            record = run_row(row, profile, seed, out, mined, args.threads, args.model)
            append_result(results_path, record)
            scores = ", ".join(f"{b} {100 * record['eval'][b]['pass@1']:.1f}" for b in BENCHES)
            print(f"{name} seed {seed}: {scores} ({time.monotonic() - t0:.0f} s)", flush=True)
    print(table(read_results(results_path)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UnitrlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
