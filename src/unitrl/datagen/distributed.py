"""Mining over a Ray cluster (``unitrl mine --ray``; needs the ``unitrl[ray]`` extra).

:func:`mine_paths_ray` is :func:`~unitrl.datagen.pipeline.mine_paths` with the files spread over Ray tasks.
The driver resolves the sources (PyPI downloads included), reads each file's text, skips finished files and
packs the rest into batches; each batch is one Ray task that starts its own
:class:`~unitrl.datagen.pipeline.Miner` -- so mined code runs only in unitrl's sandboxed executor, on the
node that runs the task, exactly as in local mode -- and returns its tasks and per-file
:class:`~unitrl.datagen.pipeline.MineStats` as plain data.  Nodes need unitrl (and bubblewrap, for the
sandbox) installed; they need none of the sources.

The driver takes results as they complete but hands them on (``on_task``, ``on_file``) in the order of the
files, so the output -- and what a resumed run skips -- is the one local mode gives:

* **dedup** -- each batch drops copies within itself and of the tasks the run started with; a function
  whose copy sits in another batch mined at the same time is mined twice and the driver drops the later
  copy's task.  Tasks are the same as local mode's; only the counts differ, where the later copy was
  rejected anyway: it is counted under its own reason rather than ``duplicate``.
* **decontamination** -- the benchmark index is built once on the driver and shipped to the tasks.
* ``limit_functions`` -- honoured exactly by mining one batch at a time (it is a knob for small runs).

``ray`` is imported only when this backend is used.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitrl.datagen.dedup import TaskScreen, function_key
from unitrl.datagen.pipeline import MineConfig, Miner, MineStats, make_screen, task_id_for
from unitrl.errors import UnitrlError
from unitrl.tasks import Task, task_from_dict

if TYPE_CHECKING:
    from unitrl.datagen.dedup import BenchmarkIndex
    from unitrl.datagen.selection import Candidate
    from unitrl.datagen.sources import Source
    from unitrl.execution import ExecutionConfig

#: The one-line error of ``--ray`` without Ray installed.
NEEDS_RAY = "--ray needs Ray: pip install 'unitrl[ray]'"

#: A file as shipped to a Ray task: ``(label, text or None, meta)``.
FileItem = tuple[str, "str | None", dict[str, Any]]


def require_ray() -> Any:
    """The ``ray`` module, or a :class:`UnitrlError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UnitrlError(NEEDS_RAY) from None
    return ray


class _RecordingScreen(TaskScreen):
    """The screen of one batch: the run's dedup/decontamination settings, the benchmark index shipped from
    the driver, the keys the run started with; it records each candidate it lets through (task id and
    function key, in order) so the driver can drop copies across batches."""

    def __init__(
        self,
        *,
        dedup: bool,
        decontaminate: bool,
        threshold: float,
        index: BenchmarkIndex | None,
        seen: Iterable[str],
    ) -> None:
        decontaminate = decontaminate and index is not None
        super().__init__(dedup=dedup, decontaminate=decontaminate, threshold=threshold, index=index)
        self.seen = set(seen)
        self.records: list[tuple[str, str | None]] = []

    def check_candidate(self, candidate: Candidate) -> str | None:
        reason = super().check_candidate(candidate)
        if reason is None:
            key = function_key(candidate.reference, candidate.name) if self.dedup else None
            name = candidate.qualname or candidate.name
            self.records.append((task_id_for(candidate.path, name, candidate.lineno), key))
        return reason


def mine_batch(
    files: list[FileItem],
    config: MineConfig,
    exec_config: ExecutionConfig,
    screen_settings: dict[str, Any],
    seen: Iterable[str] = (),
    limit: int | None = None,
) -> dict[str, Any]:
    """Mine a batch of files with a fresh :class:`Miner` (the body of one Ray task; also callable locally).

    ``screen_settings`` holds ``dedup``, ``decontaminate``, ``threshold`` and ``index`` (a
    :class:`~unitrl.datagen.dedup.BenchmarkIndex` or ``None``).  ``limit`` caps the candidates of the whole
    batch; files after it is reached are left out of the answer (so they count as not mined).  Returns
    ``{"files": [{"label", "tasks" (task dicts), "stats" (see :meth:`MineStats.state`), "candidates"
    ([task id, function key] of each candidate let through, in order)}], "matches": {...}}``.
    """
    screen = _RecordingScreen(seen=seen, **screen_settings)
    answers: list[dict[str, Any]] = []
    used = 0
    with Miner(exec_config, config, screen=screen) as miner:
        for label, text, meta in files:
            if limit is not None and used >= limit:
                break
            screen.records = []
            if text is None:
                tasks: list[Task] = []
                stats = MineStats(files=1, functions_seen=0, rejected=Counter({"syntax_error": 1}))
            else:
                left = None if limit is None else limit - used
                tasks, stats = miner.mine_source(text, label, limit=left, meta=meta)
            used += stats.candidates
            answers.append(
                {
                    "label": label,
                    "tasks": [t.to_dict() for t in tasks],
                    "stats": MineStats.state(stats),
                    "candidates": [list(r) for r in screen.records],
                }
            )
    return {"files": answers, "matches": dict(screen.matches)}


def _batches(
    sources: list[Source],
    skip: Callable[[str], bool] | None,
    on_source: Callable[[Source], None] | None,
    files_per_task: int,
    bytes_per_task: int,
) -> Iterator[list[FileItem]]:
    batch: list[FileItem] = []
    size = 0
    for source in sources:
        if on_source is not None:
            on_source(source)
        for file in source.iter_files():
            if skip is not None and skip(file.label):
                continue
            batch.append((file.label, file.text, dict(file.meta)))
            size += len(file.text or "")
            if len(batch) >= files_per_task or size >= bytes_per_task:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def connect(address: str | None = None, **init_kwargs: Any) -> bool:
    """Start or join Ray unless this process already has; True when this call did (so it shuts down).

    ``address`` follows :func:`ray.init`: ``None`` joins the cluster named by ``RAY_ADDRESS``, else a Ray
    already running on this machine (``ray start``), else starts a local one; ``"auto"``
    joins one or fails; ``"local"`` always starts a new local one; ``HOST:PORT`` or ``ray://HOST:PORT``
    joins that cluster.
    """
    ray = require_ray()
    if ray.is_initialized():
        return False
    init_kwargs.setdefault("include_dashboard", False)
    init_kwargs.setdefault("log_to_driver", True)
    try:
        ray.init(address=address, **init_kwargs)
    except (ConnectionError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "a local Ray"
        raise UnitrlError(f"--ray: could not start or join {where}: {exc}") from exc
    return True


def mine_paths_ray(
    paths: Iterable[str | os.PathLike[str]],
    config: MineConfig | None = None,
    exec_config: ExecutionConfig | None = None,
    *,
    on_task: Callable[[Task], None] | None = None,
    on_file: Callable[[str, MineStats], None] | None = None,
    skip: Callable[[str], bool] | None = None,
    screen: TaskScreen | None = None,
    on_source: Callable[[Source], None] | None = None,
    address: str | None = None,
    cpus_per_task: float = 1,
    files_per_task: int = 8,
    bytes_per_task: int = 1 << 20,
    init_kwargs: dict[str, Any] | None = None,
) -> tuple[list[Task], MineStats]:
    """:func:`~unitrl.datagen.pipeline.mine_paths` on Ray (same arguments, same answer; see the module
    docstring for the two differences in the counts).

    Each Ray task mines up to ``files_per_task`` files (or ``bytes_per_task`` of source) and reserves
    ``cpus_per_task`` CPUs; its executors get ``exec_config.workers`` sandboxed workers, or one per reserved
    CPU when that is ``None``.  Ray is started or joined with :func:`connect` (``address``,
    ``init_kwargs``) unless this process already did, and shut down at the end if this call started it.
    """
    from unitrl.datagen.sources import resolve_sources
    from unitrl.execution import ExecutionConfig as _ExecutionConfig

    if cpus_per_task <= 0:
        raise UnitrlError(f"--ray-cpus-per-task must be positive, got {cpus_per_task}")
    if files_per_task < 1:
        raise UnitrlError(f"files_per_task must be at least 1, got {files_per_task}")
    ray = require_ray()
    config = config or MineConfig()
    exec_config = exec_config or _ExecutionConfig()
    task_exec = dataclasses.replace(exec_config, workers=exec_config.workers or max(1, int(cpus_per_task)))
    total = MineStats()
    tasks: list[Task] = []
    limit = config.limit_functions
    with tempfile.TemporaryDirectory(prefix="unitrl-mine-") as work:
        sources = resolve_sources([os.fspath(p) for p in paths], Path(work))  # downloads before Ray starts
        if screen is None:
            screen = make_screen(config)
        settings: dict[str, Any] = {
            "dedup": bool(screen and screen.dedup),
            "decontaminate": bool(screen and screen.decontaminate),
            "threshold": screen.threshold if screen else config.contamination_threshold,
            "index": screen.index if screen else None,
        }
        started = connect(address, **(init_kwargs or {}))
        pending: dict[Any, int] = {}
        try:
            remote = ray.remote(mine_batch).options(num_cpus=cpus_per_task)
            settings_ref = ray.put(settings)
            seen_ref = ray.put(sorted(screen.seen) if screen else [])
            batches = _batches(sources, skip, on_source, files_per_task, bytes_per_task)
            finished: dict[int, dict[str, Any]] = {}
            submitted = committed = 0
            more = True
            while True:
                # asked again each round: an autoscaling cluster grows while it works
                slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_task))
                in_flight, outstanding = (1, 1) if limit is not None else (2 * slots, 8 * slots)
                while more and len(pending) < in_flight and len(pending) + len(finished) < outstanding:
                    left = None if limit is None else limit - total.candidates
                    if left is not None and left <= 0:
                        more = False
                        break
                    batch = next(batches, None)
                    if batch is None:
                        more = False
                        break
                    # with a limit, one batch at a time: each sees every key mined before it
                    seen: Any = sorted(screen.seen) if screen and limit is not None else seen_ref
                    ref = remote.remote(batch, config, task_exec, settings_ref, seen, left)
                    pending[ref] = submitted
                    submitted += 1
                if not pending and not finished:
                    break
                if pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        finished[pending.pop(ref)] = ray.get(ref)
                while committed in finished:
                    answer = finished.pop(committed)
                    committed += 1
                    if screen is not None:
                        screen.matches.update(answer["matches"])
                    for item in answer["files"]:
                        found, stats = _take(item, screen)
                        for task in found:
                            if on_task is not None:
                                on_task(task)
                        tasks.extend(found)
                        total.add(stats)
                        if on_file is not None:
                            on_file(item["label"], stats)
        finally:
            for ref in pending:
                ray.cancel(ref)
            if started:
                ray.shutdown()
    return tasks, total


def _take(item: dict[str, Any], screen: TaskScreen | None) -> tuple[list[Task], MineStats]:
    """One file's answer, with the tasks of functions mined earlier in the run (in another batch) dropped
    as duplicates."""
    stats = MineStats.from_state(item["stats"])
    found = [task_from_dict(record, item["label"]) for record in item["tasks"]]
    if screen is None or not screen.dedup:
        return found, stats
    by_id = {task.task_id: task for task in found}
    dropped: set[str] = set()
    for task_id, key in item["candidates"]:
        if key not in screen.seen:
            screen.seen.add(key)
            continue
        task = by_id.get(task_id)
        if task is None:  # rejected anyway: stays counted under its own reason
            continue
        dropped.add(task_id)
        stats.count_task(task, -1)
        stats.candidates -= 1
        stats.rejected["duplicate"] += 1
        stats.dedup_dropped += 1
    return [task for task in found if task.task_id not in dropped], stats
