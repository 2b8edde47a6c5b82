"""Training reports: curves (PNG) and a comparison table (Markdown) from run and evaluation directories.

Inputs are the directories the other commands write:

* a training run (``unitrl train --out``): ``metrics.jsonl`` (one object per step), ``config.json`` (the
  trainer config), ``run.json`` (algorithm, LoRA, dtype) and, when periodic held-out evaluation is on,
  ``evals.jsonl`` (``{"step", "benchmark", "split", "n_tasks", "passed", "pass@1", "seconds"}`` per
  evaluation);
* an evaluation (``unitrl eval --out``): ``summary.json`` (pass@k, timings), shown as one row of its own and,
  when its pass@1 is known, as a dashed level in the held-out panel.

Files of a run still in progress are read as they are: a torn last line (the writer was killed or is
mid-write) is skipped, a step logged twice (a resumed run) keeps its last row.  :func:`write_report` writes
``curves.png``, ``report.md`` (the tables, the PNG embedded by relative path) and ``report.json`` (the same
numbers, for scripts), each atomically.  matplotlib is imported only when curves are drawn, with the Agg
canvas (no display, no global backend switch).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrl.errors import UnitrlError
from unitrl.io import atomic_file, atomic_write_text

METRICS_FILE = "metrics.jsonl"
EVALS_FILE = "evals.jsonl"
SUMMARY_FILE = "summary.json"
RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
CURVES_FILE = "curves.png"
REPORT_FILE = "report.md"
REPORT_JSON = "report.json"

#: The panels of the curve figure: ``(title, metric keys)``; for each run the first key it logged is drawn
#: (the critic panel shows actor-critic's and CodeRL's ``critic_loss`` and PPO's ``value_loss``).  A panel
#: appears when at least one run logged one of its keys.
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward (mean per step)", ("reward_mean",)),
    ("train pass rate", ("pass_rate",)),
    ("loss", ("loss",)),
    ("KL to the reference policy", ("kl",)),
    ("critic / value loss", ("critic_loss", "value_loss")),
    ("grad norm", ("grad_norm",)),
)
HELD_OUT_TITLE = "held-out pass@1"

#: Metric keys that give a step's duration in seconds (summed for the wall time) ...
STEP_SECONDS_KEYS = ("step_seconds", "step_time", "seconds", "time_s", "step_s")
#: ... or the time since the run started (the last value is the wall time).
ELAPSED_KEYS = ("elapsed_seconds", "elapsed_s", "elapsed", "wall_seconds", "wall_s")


@dataclass
class Run:
    """One input directory: a training run (``kind="train"``) or an evaluation (``kind="eval"``)."""

    path: Path
    name: str
    kind: str
    algo: str
    config: dict[str, Any] = field(default_factory=dict)
    #: Rows of metrics.jsonl, one per step, sorted by step.
    metrics: list[dict[str, Any]] = field(default_factory=list)
    #: Rows of evals.jsonl, sorted by step (one per step and held-out set).
    evals: list[dict[str, Any]] = field(default_factory=list)
    #: summary.json of an evaluation directory.
    summary: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.name if self.name == self.algo else f"{self.name} ({self.algo})"

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """``(steps, values)`` of a metric, leaving out rows without a finite value."""
        xs, ys = [], []
        for row in self.metrics:
            value = _number(row.get(key))
            if value is not None:
                xs.append(float(row.get("step", 0)))
                ys.append(value)
        return xs, ys

    def held_out_sets(self) -> list[str]:
        """The held-out sets (``benchmark:split``) of evals.jsonl, in order of first appearance."""
        seen: dict[str, None] = {}
        for row in self.evals:
            seen.setdefault(eval_set(row), None)
        return list(seen)

    def held_out(self, name: str, metric: str = "pass@1") -> tuple[list[float], list[float]]:
        """``(steps, values)`` of one held-out set."""
        xs, ys = [], []
        for row in self.evals:
            value = _number(row.get(metric))
            if eval_set(row) == name and value is not None:
                xs.append(float(row.get("step", 0)))
                ys.append(value)
        return xs, ys


def eval_set(row: dict[str, Any]) -> str:
    """``benchmark:split`` (or just the benchmark) of an evals.jsonl row or an eval summary."""
    benchmark = str(row.get("benchmark") or "?")
    split = row.get("split")
    return f"{benchmark}:{split}" if split else benchmark


# ------------------------------------------------------------------------------------------------ loading


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnitrlError(f"{path}: not readable JSON ({e}); is the directory complete?") from None
    if not isinstance(data, dict):
        raise UnitrlError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file that may still be written to: a torn last line is skipped."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                break  # a line being written (or cut by a kill)
            raise UnitrlError(f"{path}:{i + 1}: invalid JSON ({e.msg}); fix or delete the line") from None
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _by_step(rows: Iterable[dict[str, Any]], key: Any = None) -> list[dict[str, Any]]:
    """Rows sorted by step; of rows with the same step (and ``key``), the last one written wins."""
    latest: dict[Any, dict[str, Any]] = {}
    for row in rows:
        step = _number(row.get("step"))
        if step is None:
            continue
        ident = (step, key(row)) if key else step
        latest.pop(ident, None)
        latest[ident] = row
    return sorted(latest.values(), key=lambda r: float(r["step"]))


def _evals_from_metrics(metrics: list[dict[str, Any]], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Held-out points from the steps' ``heldout_pass@1`` when ``evals.jsonl`` is missing."""
    return [
        {
            "step": row["step"],
            "benchmark": config.get("eval_tasks"),
            "split": config.get("eval_split"),
            "pass@1": row["heldout_pass@1"],
        }
        for row in metrics
        if _number(row.get("heldout_pass@1")) is not None
    ]


def load_run(path: str | os.PathLike[str], name: str | None = None) -> Run:
    """Read a training run or evaluation directory; anything else is a one-line :class:`UnitrlError`."""
    path = Path(path)
    if not path.exists():
        raise UnitrlError(f"{path} does not exist (give a directory written by unitrl train or unitrl eval)")
    name = name or path.resolve().name
    if path.is_dir() and (path / METRICS_FILE).is_file():
        run_info = _read_json(path / RUN_FILE) if (path / RUN_FILE).is_file() else {}
        config = _read_json(path / CONFIG_FILE) if (path / CONFIG_FILE).is_file() else {}
        algo = str(run_info.get("algo") or config.get("algo") or "?")
        metrics = _by_step(read_rows(path / METRICS_FILE))
        return Run(
            path=path,
            name=name,
            kind="train",
            algo=algo,
            config=config,
            metrics=metrics,
            evals=_by_step(read_rows(path / EVALS_FILE), key=eval_set)
            or _evals_from_metrics(metrics, config),
        )
    if path.is_dir() and (path / SUMMARY_FILE).is_file():
        summary = _read_json(path / SUMMARY_FILE)
        config = _read_json(path / CONFIG_FILE) if (path / CONFIG_FILE).is_file() else {}
        return Run(path=path, name=name, kind="eval", algo="eval", config=config, summary=summary)
    raise UnitrlError(f"{path} is not a training run or eval directory (no {METRICS_FILE}/{SUMMARY_FILE})")


def load_runs(paths: Sequence[str | os.PathLike[str]]) -> list[Run]:
    """:func:`load_run` for each path; runs whose directory names clash are named ``parent/name``."""
    if not paths:
        raise UnitrlError("no run directories given (pass one or more directories written by unitrl train)")
    resolved = [Path(p).resolve() for p in paths]
    base = [p.name for p in resolved]
    names = [f"{p.parent.name}/{p.name}" if base.count(p.name) > 1 else p.name for p in resolved]
    return [load_run(p, name) for p, name in zip(paths, names, strict=True)]


# ------------------------------------------------------------------------------------------------ numbers


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average: point ``i`` is the mean of values ``max(0, i-window+1) .. i``."""
    if window < 1:
        raise UnitrlError(f"--smooth must be at least 1, got {window}")
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _mean_last(values: Sequence[float], last: int) -> float | None:
    tail = list(values)[-last:]
    return sum(tail) / len(tail) if tail else None


def wall_seconds(run: Run) -> float | None:
    """Wall time: of a training run, its steps (the metrics' timing keys, :data:`STEP_SECONDS_KEYS` or
    :data:`ELAPSED_KEYS`) plus its held-out evaluations (``seconds`` in evals.jsonl); of an evaluation
    directory, its summary's ``wall_seconds``.  ``None`` when the files do not say."""
    if run.summary is not None:
        return _number((run.summary.get("timings") or {}).get("wall_seconds"))
    train = None
    for key in ELAPSED_KEYS:
        _, ys = run.series(key)
        if ys:
            train = ys[-1]
            break
    else:
        for key in STEP_SECONDS_KEYS:
            _, ys = run.series(key)
            if ys:
                train = sum(ys)
                break
    if train is None:
        return None
    return train + sum(_number(r.get("seconds")) or 0.0 for r in run.evals)


def summarize(run: Run, last: int = 10) -> dict[str, Any]:
    """The numbers of one table row (``None`` where a run has no data for a column)."""
    if last < 1:
        raise UnitrlError(f"--last must be at least 1, got {last}")
    row: dict[str, Any] = {"run": run.name, "algo": run.algo, "kind": run.kind, "path": str(run.path)}
    if run.kind == "eval":
        s = run.summary or {}
        passk = {k: _number(v) for k, v in (s.get("pass_at_k") or {}).items()}
        row.update(
            model=s.get("model"),
            held_out=eval_set(s),
            tasks=s.get("tasks"),
            samples=s.get("samples"),
            n=s.get("n"),
            pass_at_k=passk,
            wall_seconds=wall_seconds(run),
        )
        return row
    steps = [float(r["step"]) for r in run.metrics]
    n_steps = int(max(steps)) if steps else 0
    fresh = [_number(r.get("n_fresh")) for r in run.metrics]
    if run.metrics and all(v is not None for v in fresh):
        samples_seen: int | None = int(sum(v for v in fresh if v is not None))
    else:
        k, pps = _number(run.config.get("k")), _number(run.config.get("prompts_per_step"))
        samples_seen = int(n_steps * k * pps) if k is not None and pps is not None else None
    rewards, passes = run.series("reward_mean")[1], run.series("pass_rate")[1]
    row.update(
        steps=n_steps,
        planned_steps=run.config.get("steps"),
        samples_seen=samples_seen,
        reward_last=_mean_last(rewards, last),
        pass_rate_last=_mean_last(passes, last),
        wall_seconds=wall_seconds(run),
        held_out=[],
    )
    for name in run.held_out_sets():
        xs, ys = run.held_out(name)
        if not ys:
            continue
        best = max(range(len(ys)), key=lambda i: (ys[i], -xs[i]))  # the earliest of equal bests
        tasks = [r.get("n_tasks") for r in run.evals if eval_set(r) == name]
        row["held_out"].append(
            {
                "set": name,
                "n_tasks": tasks[-1],
                "evaluations": len(ys),
                "first": ys[0],
                "first_step": int(xs[0]),
                "last": ys[-1],
                "last_step": int(xs[-1]),
                "best": ys[best],
                "best_step": int(xs[best]),
            }
        )
    return row


# ------------------------------------------------------------------------------------------------ markdown


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_duration(seconds: float | None) -> str:
    """``45s``, ``3m 20s``, ``2h 05m``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown_tables(summaries: Sequence[dict[str, Any]], last: int) -> str:
    """The comparison table of the training runs, then one of the evaluation directories (if any)."""
    parts = []
    train = [s for s in summaries if s["kind"] == "train"]
    evals = [s for s in summaries if s["kind"] == "eval"]
    if train:
        header = [
            "run",
            "algo",
            "steps",
            "samples seen",
            f"reward (last {last})",
            f"train pass (last {last})",
            "held-out set",
            "pass@1 first",
            "pass@1 last",
            "pass@1 best",
            "wall time",
        ]
        rows = []
        for s in train:
            steps = str(s["steps"])
            planned = s.get("planned_steps")
            if isinstance(planned, int) and planned > s["steps"]:
                steps += f" / {planned}"
            h = s["held_out"][0] if s["held_out"] else None
            rows.append(
                [
                    s["run"],
                    s["algo"],
                    steps,
                    "—" if s["samples_seen"] is None else str(s["samples_seen"]),
                    _num(s["reward_last"]),
                    _pct(s["pass_rate_last"]),
                    f"{h['set']} ({h['n_tasks']} tasks)" if h and h["n_tasks"] else (h["set"] if h else "—"),
                    f"{_pct(h['first'])} (step {h['first_step']})" if h else "—",
                    f"{_pct(h['last'])} (step {h['last_step']})" if h else "—",
                    f"{_pct(h['best'])} (step {h['best_step']})" if h else "—",
                    format_duration(s["wall_seconds"]),
                ]
            )
        parts.append(_table(header, rows))
        more = [(s, h) for s in train for h in s["held_out"][1:]]
        if more:
            parts.append(
                "Other held-out sets:\n\n"
                + _table(
                    ["run", "held-out set", "pass@1 first", "pass@1 last", "pass@1 best"],
                    [
                        [
                            s["run"],
                            h["set"],
                            f"{_pct(h['first'])} (step {h['first_step']})",
                            f"{_pct(h['last'])} (step {h['last_step']})",
                            f"{_pct(h['best'])} (step {h['best_step']})",
                        ]
                        for s, h in more
                    ],
                )
            )
    if evals:
        ks = sorted(
            {k for s in evals for k in s["pass_at_k"]}, key=lambda k: int(k.split("@")[1]) if "@" in k else 0
        )
        header = ["eval", "model", "benchmark", "tasks", "samples/task", *ks, "wall time"]
        rows = [
            [
                s["run"],
                str(s.get("model") or "—"),
                s["held_out"],
                str(s.get("tasks") or "—"),
                str(s.get("n") or "—"),
                *[_pct(s["pass_at_k"].get(k)) for k in ks],
                format_duration(s["wall_seconds"]),
            ]
            for s in evals
        ]
        parts.append(_table(header, rows))
    return "\n\n".join(parts) + "\n"


def markdown_report(
    summaries: Sequence[dict[str, Any]], *, last: int, smooth: int, curves: str | None = CURVES_FILE
) -> str:
    """The whole ``report.md``: the curves (by relative path), the tables and what the columns mean."""
    lines = ["# Training report", ""]
    if curves:
        lines += [f"![training curves]({curves})", ""]
    lines += [markdown_tables(summaries, last).rstrip("\n"), ""]
    notes = [
        f"*reward* and *train pass* are means over the last {last} logged steps; *samples seen* counts the "
        "fresh samples generated (the metrics' `n_fresh`, else steps × prompts_per_step × k); held-out "
        "pass@1 comes from `evals.jsonl` (first, last and best evaluation, with their steps); wall time "
        "from the metrics' `step_seconds` plus the held-out evaluations' `seconds`, else `—`.",
    ]
    if curves:
        smoothing = (
            f"a trailing moving average over {smooth} steps (raw values faint)" if smooth > 1 else "none"
        )
        notes.append(f"Curves: one line per run; smoothing: {smoothing}; held-out pass@1 is not smoothed.")
    for note in notes:
        lines += [note, ""]
    lines += ["Sources:", ""]
    lines += [f"- `{s['run']}`: `{s['path']}`" for s in summaries]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ curves


def _panels(runs: Sequence[Run]) -> list[tuple[str, tuple[str, ...]]]:
    panels = [
        (title, keys) for title, keys in PANELS if any(run.series(key)[1] for run in runs for key in keys)
    ]
    if any(run.evals for run in runs):
        panels.insert(min(2, len(panels)), (HELD_OUT_TITLE, ()))
    return panels


def render_curves(runs: Sequence[Run], path: str | os.PathLike[str], smooth: int = 1) -> bool:
    """Draw the panels that have data into a PNG at ``path`` (atomically); ``False`` when nothing to draw
    (no training run logged a metric: evaluation directories alone have no curves, only their level in the
    held-out panel next to training runs)."""
    if smooth < 1:
        raise UnitrlError(f"--smooth must be at least 1, got {smooth}")
    panels = _panels(runs)
    if not panels:
        return False
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise UnitrlError("drawing curves needs matplotlib: pip install 'matplotlib>=3.8'") from None

    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(6.0 * ncols, 3.6 * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    palette = [f"C{i}" for i in range(10)]
    colors = {id(run): palette[i % len(palette)] for i, run in enumerate(runs)}
    styles = ["-", "--", ":", "-."]
    handles: dict[str, Any] = {}
    for ax, (title, keys) in zip(axes, panels, strict=False):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title == HELD_OUT_TITLE:
            for run in runs:
                if run.kind == "eval":
                    value = _number((run.summary or {}).get("pass_at_k", {}).get("pass@1"))
                    if value is not None:
                        line = ax.axhline(value, color=colors[id(run)], linestyle="--", linewidth=1.2)
                        handles.setdefault(f"{run.name} (eval: {eval_set(run.summary or {})})", line)
                    continue
                for j, name in enumerate(run.held_out_sets()):
                    xs, ys = run.held_out(name)
                    (line,) = ax.plot(
                        xs, ys, marker="o", markersize=3, color=colors[id(run)], linestyle=styles[j % 4]
                    )
                    handles.setdefault(run.label, line)
                    if len(run.held_out_sets()) > 1:
                        handles.setdefault(f"{run.label} {name}", line)
            continue
        used: dict[str, None] = {}
        for run in runs:
            key = next((k for k in keys if run.series(k)[1]), None)
            if key is None:
                continue
            used[key] = None
            xs, ys = run.series(key)
            if smooth > 1:
                ax.plot(xs, ys, color=colors[id(run)], alpha=0.2, linewidth=0.8)
                ys = moving_average(ys, smooth)
            (line,) = ax.plot(xs, ys, color=colors[id(run)], linewidth=1.5)
            handles.setdefault(run.label, line)
        if len(keys) > 1:
            ax.set_title(f"{title}: {', '.join(used)}", fontsize=10)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="outside lower center",
            ncols=min(len(handles), 3),
            fontsize=8,
            frameon=False,
        )
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return True


# ------------------------------------------------------------------------------------------------ all


@dataclass
class Report:
    """What :func:`write_report` wrote: the output folder, the Markdown and the table rows."""

    out: Path
    markdown: str
    tables: str
    summaries: list[dict[str, Any]]
    curves: Path | None


def write_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    smooth: int = 5,
    last: int = 10,
) -> Report:
    """Load ``paths``, write ``out/curves.png``, ``out/report.md`` and ``out/report.json``."""
    if smooth < 1:
        raise UnitrlError(f"--smooth must be at least 1, got {smooth}")
    if last < 1:
        raise UnitrlError(f"--last must be at least 1, got {last}")
    runs = load_runs(paths)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UnitrlError(f"--out {out} is a file; give a directory for the report")
    summaries = [summarize(run, last) for run in runs]
    curves_path = out / CURVES_FILE
    drawn = render_curves(runs, curves_path, smooth)
    markdown = markdown_report(summaries, last=last, smooth=smooth, curves=CURVES_FILE if drawn else None)
    atomic_write_text(out / REPORT_FILE, markdown)
    atomic_write_text(
        out / REPORT_JSON,
        json.dumps({"last": last, "smooth": smooth, "runs": summaries}, indent=2) + "\n",
    )
    return Report(
        out=out,
        markdown=markdown,
        tables=markdown_tables(summaries, last),
        summaries=summaries,
        curves=curves_path if drawn else None,
    )


def default_out_dir(first: str | os.PathLike[str]) -> Path:
    """``report/`` next to the first run: ``unitrl report runs/ac runs/ppo`` writes ``runs/report``."""
    return Path(first).resolve().parent / "report"
