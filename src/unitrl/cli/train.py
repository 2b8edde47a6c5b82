"""``unitrl train``: RL fine-tuning of a code LM on unit-test rewards (actor-critic, GRPO, RLOO, PPO or CodeRL).

Thin: settings come from defaults < ``--config FILE`` < ``key=value`` arguments < dedicated flags
(``--model``, ``--tasks``, ``--steps``, ``--out``), are validated before anything heavy loads
(:func:`unitrl.rl.build.resolve_settings`), and the run is built by :mod:`unitrl.rl.build`.  A run directory
holds ``run.json`` (algorithm, LoRA, dtype), ``config.json``, ``metrics.jsonl``, ``tb/`` (TensorBoard, when
installed), ``checkpoints/step-NNNNNN`` and, at the end, ``policy/`` -- a plain checkpoint (LoRA merged) that
``unitrl eval --model OUT/policy`` evaluates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from unitrl.errors import UnitrlError

#: run.json keys that must match for --resume (the trainer's config is checked by load_checkpoint).
_RUN_KEYS = ("algo", "lora", "dtype")


def train_command(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides key=value, e.g. k=8 kl_coef=0.05 lora_r=16 (any config field; see "
            "unitrl.rl.config / grpo / ppo / coderl, or --print-config, for the list).",
            show_default=False,
        ),
    ] = None,
    algo: Annotated[
        str | None,
        typer.Option(
            "--algo",
            "-a",
            help="actor-critic, grpo, rloo, ppo or coderl (default: the config file's, else actor-critic).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Policy to start from: alias, checkpoint dir, .gguf file or hub id."
        ),
    ] = None,
    tasks: Annotated[
        list[str] | None,
        typer.Option(
            "--tasks",
            "-t",
            help="Training tasks: benchmark[:split] or a task .jsonl[:split]; repeat or comma-separate for "
            "several (default split of a benchmark: the config's split, train).",
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="A .yaml/.yml or .json file of config keys (flat mapping)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default: the config's out).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its latest checkpoint.")
    ] = False,
    steps: Annotated[
        int | None, typer.Option("--steps", help="Total training steps (config key steps).")
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    ] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype",
            help="Policy weights dtype.  float32 by default even on GPUs: with bfloat16 weights the small "
            "updates of RL (lr ~1e-6) mostly round away.",
        ),
    ] = "float32",
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    wandb: Annotated[
        str | None,
        typer.Option(
            "--wandb",
            help="Also log to this Weights & Biases project (needs `pip install wandb`; WANDB_MODE=offline "
            "works without an account).",
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print the resolved settings (every key a config file or key=value may set) and exit.",
        ),
    ] = False,
) -> None:
    """Train a policy with RL from unit-test execution; metrics, checkpoints and the final policy go to --out.

    Several GPUs (data parallel): `accelerate launch --multi_gpu --num_processes N -m unitrl train ...` or
    `torchrun --nproc_per_node N -m unitrl train ...` (prompts_per_step must be a multiple of N).
    """
    from rich.console import Console

    from unitrl.rl.build import algo_from_file, read_config_file, resolve_settings

    file_data = read_config_file(config_file) if config_file is not None else {}
    algorithm = algo_from_file(file_data, algo)
    explicit = {
        "model": model,
        "tasks": ",".join(tasks) if tasks else None,
        "steps": steps,
        "out": str(out) if out is not None else None,
    }
    config, lora = resolve_settings(algorithm, file_data, overrides or [], explicit)
    if print_config:
        settings = {
            "algo": algorithm,
            **config.to_dict(),
            **{f"lora_{k}": v for k, v in lora.to_dict().items()},
        }
        typer.echo(json.dumps(settings, indent=2))
        return
    if threads is not None and threads < 1:
        raise UnitrlError(f"--threads must be at least 1, got {threads}")
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    run_train(
        config,
        lora,
        algorithm,
        resume=resume,
        device=device,
        dtype=dtype,
        threads=threads,
        progress=progress,
        log=err,
        wandb_project=wandb,
    )


def run_train(
    config: Any,
    lora: Any,
    algo: str,
    *,
    resume: bool = False,
    device: str = "auto",
    dtype: str = "float32",
    threads: int | None = None,
    progress: bool = True,
    log: Any = None,
    export: bool = True,
    wandb_project: str | None = None,
) -> dict[str, Any]:
    """The body of ``unitrl train`` for already-resolved settings; returns a summary dict.

    The summary holds ``steps``, ``last`` (the last step's metrics), ``policy`` (the exported directory, or
    ``None`` with ``export=False``) and ``trainer`` and ``tokenizer`` -- the trained policy in memory, for a
    caller that evaluates it straight away (``benchmarks/rl_compare.py``: a LoRA policy evaluated unmerged
    keeps its adapters in float32 even over bfloat16 base weights, where a merge would round small updates).
    """
    from rich.console import Console

    from unitrl.rl.distributed import setup

    # under `accelerate launch`/`torchrun` with several processes: data-parallel (unitrl.rl.distributed)
    dist = setup(cpu=device == "cpu")
    console = log or Console(stderr=True, soft_wrap=True, highlight=False)
    if not dist.is_main:
        console, progress = Console(quiet=True), False  # one process reports
    out = Path(config.out)
    run_info = {"algo": algo, "lora": lora.to_dict(), "dtype": dtype}
    checkpoint = _check_run_dir(out, run_info, resume)
    dist.wait()  # every process has checked --out before the main one writes to it

    import torch

    from unitrl.rl.build import build_executor, build_policy, build_reward, build_trainer, load_training_tasks
    from unitrl.rl.logging import RunLogger, truncate_metrics
    from unitrl.rl.loop import EVALS_FILE
    from unitrl.rl.lora import is_peft_model, merge_and_save, save_policy, trainable_parameter_count

    if threads is not None:
        torch.set_num_threads(threads)
    if dist.world_size > 1:
        device = str(dist.device)  # this process's GPU (or the CPU)
    elif device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    train_tasks = load_training_tasks(config.tasks, config.split)
    model, tokenizer = build_policy(config.model, lora, device=device, dtype=dtype)
    trainable, total = trainable_parameter_count(model)
    processes = f", {dist.world_size} processes" if dist.world_size > 1 else ""
    console.print(
        f"{algo}: {len(train_tasks)} tasks, policy {config.model} on {device}{processes} "
        f"({trainable:,} of {total:,} parameters trainable{', LoRA r=' + str(lora.r) if lora.enabled else ''})"
    )
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n", encoding="utf-8")

    with build_executor(config) as executor:
        reward = build_reward(config, train_tasks, executor)
        trainer = build_trainer(config, model, tokenizer, train_tasks, reward)
        resume_step = None
        if resume and checkpoint is None:
            resume_step = 0  # killed before its first checkpoint: start over, dropping what it logged
            console.print(f"note: no checkpoint in {out / 'checkpoints'} yet; starting from step 0")
        if checkpoint is not None:
            trainer.load_checkpoint(checkpoint)  # every process loads the one checkpoint
            resume_step = trainer.step_count
            console.print(f"resuming from {checkpoint} (step {resume_step} of {config.steps})")
        if resume_step is not None and dist.is_main:
            truncate_metrics(out / "metrics.jsonl", resume_step)
            truncate_metrics(out / EVALS_FILE, resume_step)
        # the trainer writes metrics.jsonl itself; the logger adds TensorBoard (and W&B when asked)
        wandb_config = {
            "algo": algo,
            **config.to_dict(),
            **{f"lora_{k}": v for k, v in lora.to_dict().items()},
        }
        with RunLogger(
            out,
            jsonl=False,
            tensorboard=None if dist.is_main else False,
            resume_step=resume_step,
            wandb_project=wandb_project if dist.is_main else None,
            wandb_config=wandb_config,
        ) as logger:
            if logger.writer is None and dist.is_main:
                console.print("note: tensorboard is not installed; metrics go to metrics.jsonl only")
            history = _train_with_progress(trainer, logger, console, progress)

    last = history[-1] if history else {}
    summary = {
        "steps": trainer.step_count,
        "last": last,
        "policy": None,
        "trainer": trainer,
        "tokenizer": tokenizer,
    }
    if not export or not dist.is_main:
        return summary
    policy_dir = out / "policy"
    if is_peft_model(trainer.model):
        merge_and_save(trainer.model, tokenizer, policy_dir, inplace=True)
    else:
        save_policy(trainer.model, tokenizer, policy_dir)
    console.print(
        f"done: {trainer.step_count} steps; policy saved to {policy_dir} "
        f"(evaluate: unitrl eval --model {policy_dir} --benchmark mbpp)"
    )
    return {**summary, "policy": str(policy_dir)}


def _check_run_dir(out: Path, run_info: dict[str, Any], resume: bool) -> Path | None:
    """The checkpoint to resume from (or ``None``); refuses to mix runs in one directory."""
    from unitrl.rl.checkpoint import latest_checkpoint

    checkpoint = latest_checkpoint(out / "checkpoints")
    started = checkpoint is not None or (out / "metrics.jsonl").is_file()
    if not resume:
        if started:
            raise UnitrlError(
                f"{out} already holds a run; pass --resume to continue it, or choose another --out"
            )
        return None
    saved_path = out / "run.json"
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
        changed = [k for k in _RUN_KEYS if saved.get(k) != run_info.get(k)]
        if changed:
            shown = ", ".join(f"{k}={saved.get(k)!r} (now {run_info.get(k)!r})" for k in changed)
            raise UnitrlError(
                f"{out}: the run was started with other settings: {shown}; resume with the same ones"
            )
    return checkpoint


def _train_with_progress(trainer: Any, logger: Any, console: Any, progress: bool) -> list[dict[str, float]]:
    """``trainer.train()`` with a rich progress bar and one summary line per step."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = trainer.config.steps

    def line(m: dict[str, float]) -> str:
        heldout = f"  held-out pass@1 {m['heldout_pass@1']:.3f}" if "heldout_pass@1" in m else ""
        return (
            f"step {int(m['step'])}/{total}  reward {m['reward_mean']:.3f}  pass {m['pass_rate']:.2f}  "
            f"loss {m['loss']:.4g}  kl {m['kl']:.3g}  grad {m['grad_norm']:.3g}  "
            f"{m.get('tokens_per_s', 0):.0f} tok/s  {m.get('step_seconds', 0):.0f} s{heldout}"
        )

    if not progress:

        def on_step(m: dict[str, float]) -> None:
            logger.log(m)
            console.print(line(m))

        return trainer.train(on_step=on_step)

    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("train", total=total, completed=trainer.step_count, info="")

        def on_step_bar(m: dict[str, float]) -> None:
            logger.log(m)
            bar.console.print(line(m))
            bar.update(task, completed=int(m["step"]), info=f"reward {m['reward_mean']:.3f}")

        return trainer.train(on_step=on_step_bar)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
